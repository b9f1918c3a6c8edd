"""Tune the default ACSF1 models on the VALIDATION split only (never on test).

Every variant is trained with `wavelet-networks fit` on several validation
splits (``--data.split_seed``); the script prints the mean over splits of the
best validation loss and of the validation accuracy averaged over the last 10
epochs. Test metrics are computed by `fit` but not read here.

    PYTHONPATH=src python benchmarks/tune_acsf1.py w-small-cnn '{}' '{"model.lr": 0.01}'

Each further argument is a JSON object of extra `fit` options (without "--").
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from wavelet_networks.cli.fit import run_fit
from wavelet_networks.training.run import read_epoch_metrics


def evaluate(model: str, options: dict, split_seeds=(0, 1)) -> dict:
    losses, accs, times = [], [], []
    for s in split_seeds:
        root = Path(tempfile.mkdtemp(prefix="tune-"))
        args = ["--config", "default", "--model.model_name", model, "--run_root", str(root),
                "--data.split_seed", str(s), "--trainer.enable_progress_bar", "false",
                "--trainer.enable_model_summary", "false"]
        for k, v in options.items():
            args += [f"--{k}", v if isinstance(v, str) else json.dumps(v)]
        t0 = time.perf_counter()
        r = run_fit(args)
        times.append(time.perf_counter() - t0)
        series = read_epoch_metrics(Path(r["run_dir"]) / "logs")
        losses.append(min(v for _, v in series["val/loss"]))
        accs.append(statistics.fmean(v for _, v in series["val/acc"][-10:]))
        shutil.rmtree(root)
    return {"model": model, "options": options, "val_loss": statistics.fmean(losses),
            "val_acc_last10": statistics.fmean(accs), "per_split_acc": accs,
            "time_s": statistics.fmean(times), "params": r["params"]}


if __name__ == "__main__":
    model = sys.argv[1]
    for spec in sys.argv[2:] or ["{}"]:
        res = evaluate(model, json.loads(spec))
        print("RESULT", json.dumps(res), flush=True)

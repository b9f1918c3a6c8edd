"""Training-recipe levers of a scale-robust model, judged on the VALIDATION split only.

Every variant (a model name, an optional resampling augmentation range and a
set of extra ``fit`` options) is trained with the ``fit`` engine on a packaged
config (default ``forda``), once per seed, and its best checkpoint (lowest
validation loss) is measured on the validation split played at every
resampling factor (``wavelet_networks.studies.scale.evaluate_speeds`` with
``split="val"``, series kept at their new length). The test split is never
read, so the variant chosen here can then be tested once with
``wavelet-networks scale-study``.

Per variant the script prints and writes the mean over seeds of the
validation accuracy at each factor, their minimum ("worst factor") and the
training time.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/scale_robust_recipe.py \\
        --seeds 0 --epochs 12 --run_root /tmp/recipe \\
        --variant base w-small-cnn-robust 0.71-1.41 '{}' \\
        --variant no-aug w-small-cnn-robust - '{}' \\
        --variant readout-mean w-small-cnn-robust 0.71-1.41 \\
            '{"model.model_overrides": "{readout: mean}"}' \\
        --json benchmarks/results/scale-robust-recipe-forda.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from ucr_recipe import fit_options

FACTORS = (0.5, 0.71, 1.0, 1.41, 2.0)


def run_variant(label: str, model: str, augment: str, options: dict[str, Any], seeds: list[int],
                epochs: int | None, config: str, run_root: Path) -> dict[str, Any]:
    """Train (or re-use) one variant per seed; validation accuracy per factor."""
    from wavelet_networks.studies.common import train_or_reuse
    from wavelet_networks.studies.scale import evaluate_speeds, factor_key

    args = fit_options(options)
    if augment != "-":
        args += ["--data.augment_resample", augment.replace("-", ",")]
    runs = []
    for seed in seeds:
        t0 = time.perf_counter()
        res = train_or_reuse(model, seed, run_root / label, config, epochs, args,
                             progress_every=None)
        val = evaluate_speeds(res["checkpoint"], FACTORS, keep_length=False, split="val")
        runs.append({"seed": seed, "fit_s": res["times_s"]["fit"], "params": res["params"],
                     "val_acc": val["metric"], "val_agreement": val["agreement"],
                     "wall_s": round(time.perf_counter() - t0, 1)})
    keys = [factor_key(f) for f in FACTORS]
    mean = {k: statistics.fmean(r["val_acc"][k] for r in runs) for k in keys}
    out = {"model": model, "augment_resample": augment, "options": options,
           "val_acc": mean, "worst": min(mean.values()),
           "fit_s": statistics.fmean(r["fit_s"] for r in runs), "runs": runs}
    print(f"{label:>24}: " + " ".join(f"{mean[k]:.3f}" for k in keys)
          + f"  worst {out['worst']:.3f}  fit {out['fit_s']:.0f} s", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", nargs=4, action="append", required=True,
                   metavar=("LABEL", "MODEL", "AUGMENT", "OPTIONS"),
                   help="label, registry name, augmentation LO-HI or '-', JSON fit options")
    p.add_argument("--config", default="forda")
    p.add_argument("--seeds", default="0")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--run_root", type=Path, required=True)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    seeds = [int(s) for s in a.seeds.split(",")]
    print(f"{'variant':>24}: val acc at " + " ".join(f"{f:g}" for f in FACTORS), flush=True)
    results = {}
    for label, model, augment, options in a.variant:
        results[label] = run_variant(label, model, augment, json.loads(options), seeds,
                                     a.epochs, a.config, a.run_root)
    if a.json:
        from wavelet_networks.studies.common import machine_info

        previous = json.loads(a.json.read_text()) if a.json.exists() else {"variants": {}}
        previous["variants"].update(results)
        previous.setdefault("commands", []).append(
            "python benchmarks/scale_robust_recipe.py " + shlex.join(sys.argv[1:] if argv is None
                                                                     else argv))
        previous.update({"config": a.config, "epochs": a.epochs, "split": "val",
                         "factors": list(FACTORS), "machine": machine_info()})
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(previous, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

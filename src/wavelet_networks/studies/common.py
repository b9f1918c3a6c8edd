"""Shared pieces of the studies: training through the ``fit`` engine, data, machine facts.

Networks are trained only through :func:`wavelet_networks.cli.fit.run_fit`
(the engine behind ``wavelet-networks fit``: same configs, run directories,
checkpoints and results files). A run that already finished with the same
settings is re-used instead of retrained, so an interrupted study resumes and
the studies share runs (``compare`` re-uses the runs of ``scale-study``).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml
from lightning.pytorch.callbacks import Callback

from wavelet_networks._machine import cpu_name

__all__ = [
    "EpochProgress",
    "data_module_from_checkpoint",
    "iter_split",
    "machine_info",
    "pin_autotune_unless_set",
    "train_or_reuse",
]

Printer = Callable[[str], None]


class EpochProgress(Callback):
    """Prints one line every ``every`` epochs: epoch, train loss, validation metrics."""

    def __init__(self, every: int = 10) -> None:
        self.every = max(1, int(every))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every and epoch != trainer.max_epochs:
            return
        m = trainer.callback_metrics
        parts = [f"{k} {float(m[k]):.3f}" for k in ("train/loss", "val/loss", "val/acc")
                 if k in m]
        print(f"    epoch {epoch}/{trainer.max_epochs}: " + ", ".join(parts), flush=True)


#: Options that do not change what a run computes (a run made with others is re-used).
_NOT_SETTINGS = {
    "config", "data", "run_root", "run_dir", "resume", "overwrite",
    "trainer.enable_progress_bar", "trainer.enable_model_summary",
}


def _parse_overrides(args: Sequence[str]) -> dict[str, Any]:
    """``--a.b VALUE`` / ``--a.b=VALUE`` pairs of fit options as ``{"a.b": value}``."""
    out: dict[str, Any] = {}
    it = iter(args)
    for arg in it:
        if not arg.startswith("--"):
            continue
        key, eq, value = arg[2:].partition("=")
        if not eq:
            value = next(it, None)
        if key in _NOT_SETTINGS or key.startswith("trainer.callbacks") or "+" in key:
            continue
        try:
            out[key] = yaml.safe_load(value) if value is not None else None
        except yaml.YAMLError:
            out[key] = value
    return out


def _lookup(cfg: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg
    parts = dotted.split(".")
    if parts[0] == "data" and len(parts) > 1 and parts[1] not in ("class_path", "init_args"):
        parts = ["data", "init_args", *parts[1:]]
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


_MISSING = object()


def _flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(cfg, dict):
        return {prefix: cfg}
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _expected_settings(config: str, fit_args: Sequence[str]) -> dict[str, Any]:
    """The settings a finished run must have to be re-used: config file leaves + overrides."""
    from wavelet_networks.cli.configs import (
        command_line_data_class,
        config_path,
        data_class_path,
    )

    cfg = yaml.safe_load(config_path(config).read_text()) or {}
    data = cfg.pop("data", None)
    expected = _flatten(cfg)
    given = command_line_data_class(list(fit_args))
    if isinstance(data, dict) and (
        given is None or given == data_class_path(str(data.get("class_path")))
    ):  # a data set named in fit_args replaces the config's (as in `fit`)
        expected.update(_flatten(data.get("init_args") or {}, "data.init_args"))
    expected.update(_parse_overrides(fit_args))
    return expected


def _same_settings(saved: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """Keys whose saved value differs from the expected one."""
    diffs = []
    for key, value in expected.items():
        got = _lookup(saved, key)
        if got is _MISSING:
            continue  # e.g. an option the engine has and the run's record lacks
        if got != value and not (isinstance(got, (int, float)) and isinstance(value, (int, float))
                                 and float(got) == float(value)):
            diffs.append(f"{key}: run has {got!r}, asked {value!r}")
    return diffs


def train_or_reuse(
    model: str,
    seed: int,
    run_root: str | Path,
    config: str = "default",
    epochs: int | None = None,
    fit_args: Sequence[str] = (),
    overwrite: bool = False,
    progress_every: int | None = 10,
    log: Printer = print,
) -> dict[str, Any]:
    """Train ``model`` with the ``fit`` engine (or re-use the finished run); its results dict.

    Args:
        model: registry name of the network.
        seed: ``seed_everything`` of the run (also names the run directory).
        run_root: root of the run directories.
        config: ``fit`` config (packaged name or YAML path) for data, optimiser and trainer.
        epochs: ``trainer.max_epochs`` (``None``: the config's).
        fit_args: further ``fit`` options, e.g. ``["--data.root", "/data/x"]``.
        overwrite: retrain a finished run instead of re-using it.
        progress_every: print a line every this many epochs (``None``: quiet).
        log: where progress lines go.
    """
    from wavelet_networks.cli import CLIError
    from wavelet_networks.cli.fit import run_fit
    from wavelet_networks.training.run import RESULTS_FILE

    args = ["--config", config, "--model.model_name", model, "--seed_everything", str(seed),
            "--run_root", str(run_root), "--trainer.enable_progress_bar", "false",
            "--trainer.enable_model_summary", "false"]
    if epochs is not None:
        args += ["--trainer.max_epochs", str(epochs)]
    args += list(fit_args)
    if overwrite:
        args += ["--overwrite", "true"]
    if progress_every:
        args += ["--trainer.callbacks+=wavelet_networks.studies.common.EpochProgress",
                 "--trainer.callbacks.every", str(progress_every)]
    try:
        with warnings.catch_warnings():
            # run_fit is called from Python on purpose; LightningCLI warns when sys.argv is set too.
            warnings.filterwarnings("ignore", message=".*args parameter is intended.*")
            return run_fit(args)
    except CLIError as exc:
        if "already holds a finished run" not in str(exc):
            raise
        run_dir = Path(str(exc).split("'")[1])
    results = json.loads((run_dir / RESULTS_FILE).read_text())
    expected = _expected_settings(config, args)
    diffs = _same_settings(results.get("config") or {}, expected)
    if diffs:
        raise CLIError(
            f"{str(run_dir)!r} holds a finished run with other settings ({'; '.join(diffs[:3])}); "
            "pass --overwrite to retrain it or choose another --run_root"
        )
    log(f"    re-using the finished run in {run_dir}")
    results["run_dir"] = str(run_dir)  # the folder it is in, which a move may have changed
    return results


def data_module_from_checkpoint(ckpt: str | Path):
    """``(data module, run info)`` rebuilt from a ``fit`` checkpoint, set up."""
    from wavelet_networks._checkpoint import load_checkpoint_file
    from wavelet_networks.cli.configs import import_class

    info = load_checkpoint_file(ckpt)["wavelet_networks"]
    cls = import_class(info["data"]["class_path"])
    dm = cls(**dict(info["data"].get("init_args") or {}))
    dm.setup("fit")
    return dm, info


def iter_split(dm, split: str) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches ``(x, y)`` of ``split`` ("train", "val" or "test") of a set-up data module."""
    loader = getattr(dm, f"{split}_dataloader")()
    loaders = loader if isinstance(loader, (list, tuple)) else [loader]
    for ld in loaders:
        for batch in ld:
            yield batch[0], batch[1]


def pin_autotune_unless_set() -> bool:
    """Turn the fast paths' timed choices off unless ``WAVELET_NETWORKS_AUTOTUNE`` is set.

    They choose between equivalent products by timing their first calls, so the
    float rounding, and with it a training run, changes with the machine's load;
    pinned, a seed gives the same run. Returns whether autotuning is on.
    """
    from wavelet_networks.settings import configure, current

    if "WAVELET_NETWORKS_AUTOTUNE" not in os.environ:
        configure(autotune=False)
    return current().autotune


def machine_info() -> dict[str, Any]:
    """CPU model, cores, OS, Python and library versions, for the record."""
    cpu = cpu_name()
    import wavelet_networks

    info = {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "wavelet_networks": wavelet_networks.__version__,
    }
    return info

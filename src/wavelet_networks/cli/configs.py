"""Config files by name, and data sets by registry name, for the LightningCLI parser.

``--config NAME`` accepts a path or the name of a packaged config
(``wavelet_networks/configs/NAME.yaml``, e.g. ``urbansound8k_w-m11``).
``--data NAME`` and ``data: {class_path: NAME}`` in a config accept the
registry name of a data set (``wavelet-networks datasets``); both are
rewritten to the data module's import path before jsonargparse sees them.

A data set named on the command line (``--data NAME``) replaces the data
section of a config that names another one: the config's data options
(``val_fraction``, ``batch_size``, ...) are not carried over to a data module
whose own defaults differ.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "available_configs",
    "command_line_data_class",
    "config_path",
    "data_class_path",
    "dataset_name_of",
    "import_class",
    "preprocess_args",
    "run_name_of",
]


def _config_dir() -> Path:
    return Path(str(resources.files("wavelet_networks") / "configs"))


def available_configs() -> list[str]:
    """Names of the packaged config files (without ``.yaml``)."""
    return sorted(p.stem for p in _config_dir().glob("*.yaml"))


def config_path(name_or_path: str) -> Path:
    """Resolve ``--config``: an existing file, else a packaged config name."""
    from wavelet_networks.cli import CLIError

    p = Path(name_or_path).expanduser()
    if p.is_file():
        return p
    stem = name_or_path[:-5] if name_or_path.endswith(".yaml") else name_or_path
    packaged = _config_dir() / f"{stem}.yaml"
    if packaged.is_file():
        return packaged
    raise CLIError(
        f"config {name_or_path!r} is neither a file nor a packaged config; "
        f"packaged configs: {', '.join(available_configs())}"
    )


def data_class_path(name: str) -> str:
    """Import path of a data module given its registry name (or an import path)."""
    from wavelet_networks.cli import CLIError
    from wavelet_networks.data import DATASETS

    if name in DATASETS:
        cls = DATASETS[name]
        return f"{cls.__module__}.{cls.__qualname__}"
    if "." in name or any(c.__name__ == name for c in DATASETS.values()):
        return name
    import difflib

    close = difflib.get_close_matches(name, DATASETS, n=2)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise CLIError(
        f"unknown data set {name!r}.{hint} Registered data sets: {', '.join(sorted(DATASETS))} "
        "(see `wavelet-networks datasets`)"
    )


def import_class(class_path: str) -> type:
    """The class at the import path ``package.module.Class``."""
    import importlib

    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def dataset_name_of(class_path: str) -> str:
    """Registry name of the data module at ``class_path`` (its class name if unregistered)."""
    from wavelet_networks.data import DATASETS

    for name, cls in DATASETS.items():
        if class_path in (f"{cls.__module__}.{cls.__qualname__}", cls.__name__, name):
            return name
    return class_path.rsplit(".", 1)[-1].lower()


def run_name_of(class_path: str, init_args: Any = None) -> str:
    """The data set's part of run directory names (see ``WaveformDataModule.run_name``)."""
    from wavelet_networks.data import DATASETS

    cls = DATASETS.get(dataset_name_of(class_path))
    if cls is None:
        return dataset_name_of(class_path)
    return cls.run_name(dict(init_args or {}))


def _load_config(path: Path, data_class: str | None = None) -> str:
    """The config at ``path`` as YAML text with a registry data-set name made an import path.

    ``data_class``: the data module named on the command line; a data section
    naming another one is dropped (see the module docstring).
    """
    from wavelet_networks.cli import CLIError

    try:
        cfg = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CLIError(f"config {str(path)!r} is not valid YAML: {exc}") from None
    if not isinstance(cfg, dict):
        raise CLIError(f"config {str(path)!r} must be a mapping of keys to values")
    data = cfg.get("data")
    if isinstance(data, str):
        cfg["data"] = {"class_path": data_class_path(data)}
    elif isinstance(data, dict) and isinstance(data.get("class_path"), str):
        data["class_path"] = data_class_path(data["class_path"])
    if data_class is not None and "data" in cfg:
        given = cfg["data"].get("class_path") if isinstance(cfg["data"], dict) else None
        if given != data_class:
            del cfg["data"]
    return yaml.safe_dump(cfg, sort_keys=False)


def command_line_data_class(args: list[str]) -> str | None:
    """Import path of the data module ``--data NAME`` names (the last one), if any."""
    found = None
    for i, arg in enumerate(args):
        key, eq, value = arg.partition("=")
        if key not in ("--data", "--data.class_path"):
            continue
        if not eq:
            value = args[i + 1] if i + 1 < len(args) else ""
        if value and not value.startswith("{") and not value.endswith((".yaml", ".yml", ".json")):
            found = data_class_path(value)
    return found


def preprocess_args(args: list[str]) -> list[str]:
    """Rewrite ``--config NAME`` and ``--data NAME`` for jsonargparse (see module doc)."""
    data_class = command_line_data_class(args)
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        key, eq, value = arg.partition("=")
        if key in ("--config", "-c", "--data", "--data.class_path", "--data.help"):
            if not eq:
                if i + 1 >= len(args):
                    out.append(arg)
                    break
                value = args[i + 1]
                i += 1
            if key in ("--config", "-c"):
                out += ["--config", _load_config(config_path(value), data_class)]
            elif key != "--data.help" and (
                value.startswith("{") or value.endswith((".yaml", ".yml", ".json"))
            ):
                out += [key, value]  # a whole data config given inline or as a file
            else:
                out += [key, data_class_path(value)]
        else:
            out.append(arg)
        i += 1
    return out

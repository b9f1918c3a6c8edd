"""State dicts in the layout of the paper's own code, converted to the zoo's models.

The Wavelet Networks paper's code (github.com/dwromero/wavelet_networks, MIT
licence) names its layers ``c1, c2, ..., bn1, bn2, ..., f1, ...`` (M-nets,
W-M-nets, 1D-CNNs), ``conv1.0/conv1.1, ..., fc`` (SampleCNN), ``conv1, bn1, ...,
fc`` (W-SampleCNN) and ``c1, bn1, first_block.0.c1, ..., c_out`` (M34-res and
W-M34-res); its group layers call their spline coefficients ``weights`` and
carry ``h_grid.*`` buffers; its training script saves the model wrapped in
``nn.DataParallel``, so every key starts with ``module.``.

:func:`convert_paper_state_dict` maps such a state dict onto a zoo model by the
order of the layers in the forward pass (the i-th convolution of the paper's
model is the i-th convolution of ours, and so on), checking every shape;
:func:`paper_keys` lists the keys it expects; :func:`convert_paper_checkpoints`
converts a folder of checkpoints once. ``build(name, ..., weights=path)``
recognises the paper's layout by itself.

Of the ``h_grid.*`` buffers only the lifting layer's grid is read by the
paper's forward pass (its scales ``1, 2, ..., 2**(S-1)``): it is checked
against the model's scales and dropped, as are the others. ``num_batches_tracked``
is copied where present (it is not used in evaluation mode).

Command line: ``python -m wavelet_networks.models.paper NAME SRC DST`` converts
one checkpoint or every ``*.pth``/``*.pt`` file under a folder.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from wavelet_networks import nn as wnn

__all__ = [
    "PaperLayoutError",
    "convert_paper_checkpoints",
    "convert_paper_state_dict",
    "is_paper_layout",
    "paper_keys",
    "paper_module_names",
    "strip_data_parallel",
]

_STAGES = ("first_block", "sec_block", "thrd_block", "frth_block")
_WEIGHTED = (nn.Conv1d, wnn.LiftingConv1d, wnn.GroupConv1d, nn.modules.batchnorm._BatchNorm,
             nn.Linear)  # fmt: skip


class PaperLayoutError(ValueError):
    """A state dict that does not fit the paper's layout of the requested model."""


def strip_data_parallel(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``state`` without the ``module.`` prefix that ``nn.DataParallel`` puts on every key."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def _weighted(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules that hold parameters or statistics, in registration (= forward) order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, _WEIGHTED)]


def _kind(m: nn.Module) -> str:
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return "bn"
    if isinstance(m, nn.Linear):
        return "linear"
    return "conv"


def paper_module_names(model: nn.Module) -> dict[str, str]:
    """``{our module name: the paper's module name}`` for every weighted layer of ``model``.

    Raises:
        PaperLayoutError: the model has no counterpart in the paper's code.
    """
    from wavelet_networks.models import abdoli, mnets, samplecnn

    layers = _weighted(model)
    counts = {"conv": 0, "bn": 0, "linear": 0}
    names: dict[str, str] = {}
    if isinstance(model, (mnets.ResMNet, mnets.WResMNet)):
        return _residual_names(model, layers)
    for ours, m in layers:
        kind = _kind(m)
        counts[kind] += 1
        i = counts[kind]
        if isinstance(model, (mnets.MNet, mnets.WMNet, abdoli.OneDCNN, abdoli.WOneDCNN)):
            names[ours] = {"conv": f"c{i}", "bn": f"bn{i}", "linear": f"f{i}"}[kind]
        elif isinstance(model, samplecnn.SampleCNN):
            names[ours] = {"conv": f"conv{i}.0", "bn": f"conv{i}.1", "linear": "fc"}[kind]
        elif isinstance(model, samplecnn.WSampleCNN):
            names[ours] = {"conv": f"conv{i}", "bn": f"bn{i}", "linear": "fc"}[kind]
        else:
            raise PaperLayoutError(
                f"{getattr(model, 'zoo_name', type(model).__name__)!r} has no counterpart in "
                "the paper's code, so there is no paper layout to convert from"
            )
    if counts["linear"] > 1 and isinstance(model, (samplecnn.SampleCNN, samplecnn.WSampleCNN)):
        raise PaperLayoutError("SampleCNN models have a single linear layer in the paper's code")
    return names


def _residual_names(model: nn.Module, layers: list[tuple[str, nn.Module]]) -> dict[str, str]:
    """M34-res and W-M34-res: stem ``c1``/``bn1``, blocks ``<stage>.<k>.<layer>``, ``c_out``."""
    from wavelet_networks.models import mnets

    blocks: tuple[int, ...] = model.blocks
    if len(blocks) > len(_STAGES):
        raise PaperLayoutError(f"the paper's M34-res has {len(_STAGES)} stages, this model "
                               f"has {len(blocks)}")
    where = [(_STAGES[i], k) for i, n in enumerate(blocks) for k in range(n)]
    block_names = [n for n, m in model.named_modules() if isinstance(m, (mnets.ResBlock,
                                                                         mnets.WResBlock))]
    owner = dict(zip(block_names, where, strict=True))
    names: dict[str, str] = {}
    head = layers[-1][0]
    stem_conv = stem_bn = False
    for ours, m in layers:
        block = next((b for b in block_names if ours.startswith(b + ".")), None)
        if block is not None:
            stage, k = owner[block]
            inner = ours[len(block) + 1 :]
            names[ours] = f"{stage}.{k}." + {"conv1": "c1", "conv2": "c2"}.get(inner, inner)
        elif ours == head:
            names[ours] = "c_out"
        elif _kind(m) == "conv" and not stem_conv:
            names[ours], stem_conv = "c1", True
        elif _kind(m) == "bn" and not stem_bn:
            names[ours], stem_bn = "bn1", True
        else:
            raise PaperLayoutError(f"layer {ours!r} has no counterpart in the paper's M34-res")
    return names


def _model(name_or_model: str | nn.Module, **overrides) -> nn.Module:
    if isinstance(name_or_model, nn.Module):
        if overrides:
            raise TypeError("architecture overrides apply to a model name, not to a model")
        return name_or_model
    from wavelet_networks.models.registry import build, card

    c = card(name_or_model)
    num_classes = overrides.pop("num_classes", None) or int(c.extra.get("num_classes", 10))
    with torch.device("meta"):
        return build(name_or_model, num_classes, **overrides)


def _candidates(paper_module: str, param: str) -> list[str]:
    # the paper's group layers name their spline coefficients "weights"
    names = [f"{paper_module}.{param}"]
    if param == "weight":
        names.append(f"{paper_module}.weights")
    return names


def _ignored(key: str) -> bool:
    """Entries the paper's forward pass does not read (checked separately where it does)."""
    return key.startswith("h_grid.") or ".h_grid." in key


def paper_keys(name_or_model: str | nn.Module, **overrides) -> list[str]:
    """The keys a state dict of the paper's code holds for this model (without ``module.``).

    Spline coefficients of lifting and group layers are ``<layer>.weights``;
    ``h_grid.*`` entries, which the paper's files hold as well, are not listed.
    """
    model = _model(name_or_model, **overrides)
    names = paper_module_names(model)
    keys = []
    for key in model.state_dict():
        module, _, param = key.rpartition(".")
        paper = names[module]
        spline = isinstance(model.get_submodule(module), (wnn.LiftingConv1d, wnn.GroupConv1d))
        keys.append(f"{paper}.weights" if spline and param == "weight" else f"{paper}.{param}")
    return keys


def is_paper_layout(state: Mapping[str, Tensor], name_or_model: str | nn.Module) -> bool:
    """Whether ``state`` (with or without ``module.``) looks like the paper's layout of the model.

    True when more of its keys are the paper's names for this model than the
    model's own names (``h_grid.*`` entries count for the paper's layout).
    """
    model = _model(name_or_model)
    try:
        theirs = set(paper_keys(model))
    except PaperLayoutError:
        return False
    keys = set(strip_data_parallel(state))
    ours = set(model.state_dict())
    score = len(keys & theirs) + sum(map(_ignored, keys))
    return score > len(keys & ours)


def _listing(keys: Iterable[str], limit: int = 8) -> str:
    """The first ``limit`` keys, in the given order, and how many there are."""
    keys = list(keys)
    shown = ", ".join(keys[:limit])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > limit else shown


def convert_paper_state_dict(
    name_or_model: str | nn.Module, state: Mapping[str, Tensor], **overrides
) -> dict[str, Tensor]:
    """Convert a state dict of the paper's code to the zoo model's own keys.

    Args:
        name_or_model: a zoo model name (e.g. ``"w-1d-cnn"``; built on the meta
            device with ``overrides``, e.g. ``num_classes``) or a built model.
        state: the paper's state dict, with or without the ``module.`` prefix of
            ``nn.DataParallel`` (e.g. ``torch.load(path, map_location="cpu",
            weights_only=True)``).

    Returns:
        A state dict that ``model.load_state_dict(..., strict=True)`` accepts.

    Raises:
        PaperLayoutError: naming the paper's keys the model needs but ``state``
            lacks (missing), the keys of ``state`` the model has no place for
            (unexpected), shapes that differ, or a lifting layer whose scales
            differ from the model's.
    """
    model = _model(name_or_model, **overrides)
    label = getattr(model, "zoo_name", type(model).__name__)
    names = paper_module_names(model)
    state = strip_data_parallel(state)
    own = model.state_dict()
    out: dict[str, Tensor] = {}
    used: set[str] = set()
    missing: list[str] = []
    wrong: list[str] = []
    for key, value in own.items():
        module, _, param = key.rpartition(".")
        candidates = _candidates(names[module], param)
        found = next((c for c in candidates if c in state), None)
        if found is None:
            if param == "num_batches_tracked":  # not read in evaluation mode
                out[key] = torch.zeros((), dtype=torch.long)
                continue
            spline = isinstance(model.get_submodule(module), (wnn.LiftingConv1d, wnn.GroupConv1d))
            missing.append(candidates[-1] if spline else candidates[0])
            continue
        used.add(found)
        tensor = state[found]
        if not isinstance(tensor, Tensor):
            wrong.append(f"{found} is a {type(tensor).__name__}, not a tensor")
        elif tuple(tensor.shape) != tuple(value.shape):
            wrong.append(f"{found}: file {tuple(tensor.shape)}, model {tuple(value.shape)}")
        else:
            out[key] = tensor
    for module_name, m in model.named_modules():
        if isinstance(m, wnn.LiftingConv1d):
            grid = state.get(f"{names[module_name]}.h_grid.grid")
            if isinstance(grid, Tensor):
                ours = torch.tensor(m.scales.scales, dtype=torch.float64)
                theirs = grid.detach().reshape(-1).to("cpu", torch.float64)
                if theirs.shape != ours.shape or not torch.allclose(theirs, ours):
                    wrong.append(
                        f"{names[module_name]}.h_grid.grid: the file's lifting scales "
                        f"{theirs.tolist()} differ from the model's {ours.tolist()}"
                    )
    unexpected = [k for k in state if k not in used and not _ignored(k)]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys: {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_listing(unexpected)}")
        if wrong:
            parts.append(f"mismatched: {'; '.join(wrong[:4])}"
                         + (f" ... ({len(wrong)} in all)" if len(wrong) > 4 else ""))
        raise PaperLayoutError(
            f"the state dict does not fit the paper's layout of {label!r}: " + "; ".join(parts)
        )
    return out


def convert_paper_checkpoints(
    name: str, source: str | Path, destination: str | Path, **overrides: Any
) -> list[Path]:
    """Convert one checkpoint of the paper's code, or every one in a folder, to zoo state dicts.

    Args:
        name: the zoo model the checkpoints belong to (e.g. ``"w-m11"``).
        source: a ``.pth``/``.pt`` file or a folder searched recursively for them.
        destination: the output file (for one source file) or folder; a folder
            receives ``<relative path>.pt`` for every source file, its
            sub-folders mirrored.
        **overrides: architecture options (e.g. ``num_classes``).

    Returns:
        The files written. Nothing is written unless every checkpoint converts.
        Every checkpoint is read with ``weights_only=True``, so a file that
        would run code when unpickled is refused.
    """
    source, destination = Path(source), Path(destination)
    if source.is_file():
        files = [source]
        targets = [destination if destination.suffix else destination / (source.stem + ".pt")]
    elif source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix in (".pth", ".pt") and p.is_file())
        if not files:
            raise FileNotFoundError(f"no .pth or .pt files under {str(source)!r}")
        targets = [destination / p.relative_to(source).with_suffix(".pt") for p in files]
    else:
        raise FileNotFoundError(f"{str(source)!r} does not exist")
    from wavelet_networks.models.registry import read_state_dict

    converted = []
    for path in files:
        try:
            converted.append(convert_paper_state_dict(name, read_state_dict(path), **overrides))
        except PaperLayoutError as exc:
            raise PaperLayoutError(f"{str(path)!r}: {exc}") from None
    for target, state in zip(targets, converted, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, target)
    return targets


def main(argv: list[str] | None = None) -> int:
    """``python -m wavelet_networks.models.paper NAME SRC DST``: convert checkpoints once."""
    p = argparse.ArgumentParser(
        prog="python -m wavelet_networks.models.paper",
        description="Convert checkpoints of the Wavelet Networks paper's code (a file, or every "
        ".pth/.pt under a folder) to state dicts of a zoo model, loadable with "
        "wavelet_networks.models.build(NAME, ..., weights=FILE).",
    )
    p.add_argument("name", help="zoo model name, e.g. w-1d-cnn")
    p.add_argument("source", help="checkpoint file or folder of the paper's code")
    p.add_argument("destination", help="output file (.pt) or folder")
    p.add_argument("--num_classes", type=int, default=None, help="outputs (default: the paper's)")
    ns = p.parse_args(argv)
    extra = {} if ns.num_classes is None else {"num_classes": ns.num_classes}
    try:
        written = convert_paper_checkpoints(ns.name, ns.source, ns.destination, **extra)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Model cards: measured facts about every model of the zoo.

:func:`describe` builds a model (on PyTorch's ``meta`` device: shapes only, no
memory, no arithmetic) and reports its parameter count against the reference
implementation, the input it expects, its receptive field and the
multiply-accumulates (MACs) of one forward pass per second of input.
:func:`format_cards` renders them for ``wavelet-networks models``.

MACs are counted on a forward pass (batch 1, the expected input length, meta
tensors) by a dispatch mode that sees every convolution and matrix product
the implementation runs (as :class:`torch.utils.flop_counter.FlopCounterMode`
does, without its overhead): i.e. for lifting and group
convolutions both the B-spline smoothing and the
dilated convolution, including the work spent on the zero padding of large
scales. The smoothing runs as weighted sums of shifted slices; each scaled
slice counts one MAC per element. Pooling, batch norm and activations are not counted.
"""

from __future__ import annotations

import copy
import functools
import textwrap

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from wavelet_networks.models._base import length_steps, receptive_field
from wavelet_networks.models.registry import available, build, card, overrides

__all__ = ["describe", "format_cards"]


def _num_classes(name: str, num_classes: int | None) -> int:
    if num_classes is not None:
        return num_classes
    c = card(name)
    return int(c.extra.get("num_classes", 50 if c.task == "multilabel" else 10))


def _meta_model(name: str, num_classes: int) -> nn.Module:
    with torch.device("meta"):
        return build(name, num_classes=num_classes).eval()


_aten = torch.ops.aten


class _MacCounter(TorchDispatchMode):
    """Multiply-accumulates of convolutions and matrix products run under this mode."""

    def __init__(self) -> None:
        super().__init__()
        self.macs = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func is _aten.convolution.default:
            # Every output element: in_channels / groups x kernel taps products.
            self.macs += out.numel() * args[1][0].numel()
        elif func is _aten.mm.default:
            self.macs += args[0].shape[0] * args[0].shape[1] * args[1].shape[1]
        elif func is _aten.addmm.default:
            self.macs += args[1].shape[0] * args[1].shape[1] * args[2].shape[1]
        elif func is _aten.bmm.default:
            self.macs += args[0].shape[0] * args[0].shape[1] * args[0].shape[2] * args[1].shape[2]
        elif func is _aten.mul.Tensor and isinstance(args[1], (int, float)):
            # First tap of the B-spline smoothing (a weighted sum of shifted slices).
            self.macs += out.numel()
        elif func is _aten.add_.Tensor and "alpha" in (kwargs or {}):
            # Further taps of the smoothing: x += c * shifted slice.
            self.macs += out.numel()
        return out


def _counted_forward(model: nn.Module, length: int, in_channels: int = 1) -> tuple[int, tuple]:
    """MACs and output shape of one forward pass on a meta input ``(1, in_channels, length)``."""
    x = torch.empty(1, in_channels, length, device="meta")
    with torch.no_grad(), _MacCounter() as counter:
        out = model(x)
    return counter.macs, tuple(out.shape)


def _macs(model: nn.Module, length: int, in_channels: int = 1) -> int:
    return _counted_forward(model, length, in_channels)[0]


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def describe(name: str, num_classes: int | None = None) -> dict:
    """Facts about the model ``name``, measured on the built model.

    Args:
        name: registry name.
        num_classes: outputs to build with (default: the paper's, e.g. 10
            classes for UrbanSound8K, 50 tags for MagnaTagATune).

    Returns:
        A dict with keys ``name, family, paper, twin, task, dataset,
        num_classes, params, reference_params, params_diff_percent,
        sample_rate, input_length, min_length, max_length,
        receptive_field_samples, receptive_field_ms, macs_per_forward,
        macs_per_second, paper_result, pretrained, notes, overrides``
        (``pretrained``: where trained weights of the paper come from, or ``None``). Values that do not
        apply are ``None`` (e.g. MACs per second without a sample rate).
        Measurements are cached per (name, num_classes).
    """
    c = card(name)
    return copy.deepcopy(_describe(c.name, _num_classes(c.name, num_classes)))


@functools.cache
def _describe(name: str, n_out: int) -> dict:
    """Measure the card of ``name`` built with ``n_out`` outputs (uncached)."""
    c = card(name)
    model = _meta_model(c.name, n_out)
    params = _params(model)
    ref = c.reference_params
    diff = None if ref is None else 100.0 * (params - ref) / ref
    # of one time step of the last feature map (the heads read it after the time mean)
    field = receptive_field(length_steps(getattr(model, "features", model)))
    length = c.input_length
    macs = None
    if length:
        macs, shape = _counted_forward(model, length)
        if shape != (1, n_out):  # the full-width model must work at its expected length
            raise RuntimeError(f"{name}: output shape {shape} for one input of {length} samples")
    per_second = None
    if macs is not None and c.sample_rate:
        per_second = round(macs * c.sample_rate / length)
    return {
        "name": c.name,
        "family": c.family,
        "paper": c.paper,
        "twin": c.twin,
        "task": c.task,
        "dataset": c.extra.get("dataset"),
        "num_classes": n_out,
        "params": params,
        "reference_params": ref,
        "params_diff_percent": diff,
        "sample_rate": c.sample_rate,
        "input_length": length,
        "min_length": getattr(model, "min_length", None),
        "max_length": getattr(model, "max_length", None),
        "receptive_field_samples": field,
        "receptive_field_ms": 1000.0 * field / c.sample_rate if c.sample_rate else None,
        "macs_per_forward": macs,
        "macs_per_second": per_second,
        "paper_result": c.paper_result,
        "pretrained": c.extra.get("pretrained"),
        "notes": c.notes,
        "overrides": overrides(c.name),
    }


def _fmt(value: float | int | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {2, 3, 4, 5, 7, 8}
    lines = []
    for k, r in enumerate(rows):
        cells = [
            v.rjust(w) if i in right else v.ljust(w)
            for i, (v, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_cards(names: list[str] | None = None) -> str:
    """A table of all (or the given) models, then one block of details per model.

    Columns: params (built with the paper's number of outputs), the reference
    implementation's count and the difference, the parameter difference to the
    twin, expected input, receptive field and GMACs per second of input.
    """
    names = list(names) if names else _pair_order(available())
    info = {n: describe(n) for n in names}
    rows = [
        ["name", "family", "params", "ref params", "diff %", "vs twin %", "input",
         "RF ms", "GMAC/s"],
    ]  # fmt: skip
    for n, d in info.items():
        twin = d["twin"]
        vs_twin = None
        if twin:
            twin_params = info[twin]["params"] if twin in info else _twin_params(twin, d)
            vs_twin = 100.0 * (d["params"] - twin_params) / twin_params
        inp = str(d["input_length"] or "-")
        if d["sample_rate"]:
            inp += f" @ {d['sample_rate'] / 1000:g} kHz"
        gmacs = None if d["macs_per_second"] is None else d["macs_per_second"] / 1e9
        rows.append(
            [
                n,
                d["family"],
                f"{d['params']:,}",
                _fmt(d["reference_params"], ","),
                _fmt(d["params_diff_percent"], "+.2f"),
                _fmt(vs_twin, "+.2f"),
                inp,
                _fmt(d["receptive_field_ms"], ".0f"),
                _fmt(gmacs, ".2f"),
            ]
        )
    blocks = [_table(rows), ""]
    for n, d in info.items():
        accepted = f"{d['min_length']}..{d['max_length'] or 'any'}" if d["min_length"] else "-"
        opts = ", ".join(f"{k}={v!r}" for k, v in d["overrides"].items()) or "-"
        lines = [
            f"{n} ({d['family']}, {d['task']}, {d['num_classes']} outputs"
            + (f", {d['dataset']})" if d["dataset"] else ")"),
            f"  paper: {d['paper']}",
            f"  twin: {d['twin'] or '-'}; paper result: {d['paper_result'] or '-'}",
            f"  input: {d['input_length']} samples expected, accepted {accepted}; receptive "
            f"field {d['receptive_field_samples']:,} samples",
            f"  MACs per forward (batch 1): {_fmt(d['macs_per_forward'], ',')}",
            f"  overrides: {opts}",
        ]
        for key, value in (d["pretrained"] or {}).items():
            lines += textwrap.wrap(
                value, 96, initial_indent=f"  trained weights, {key}: ", subsequent_indent="    ",
                break_long_words=False, break_on_hyphens=False,
            )
        if d["notes"]:
            lines += textwrap.wrap(
                d["notes"], 96, initial_indent="  notes: ", subsequent_indent="    "
            )
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def _pair_order(names: list[str]) -> list[str]:
    """Every baseline followed by its twin, then the rest in the given order."""
    out: list[str] = []
    for n in names:
        c = card(n)
        if c.family == "baseline" and n not in out:
            out.append(n)
            if c.twin in names and c.twin not in out:
                out.append(c.twin)
    return out + [n for n in names if n not in out]


def _twin_params(twin: str, d: dict) -> int:
    return _params(_meta_model(twin, d["num_classes"]))

"""How much do the zoo's logits move when the input is dilated by 2?

For every baseline and its wavelet twin: relative change of the logits,
``||f(D x) - f(x)|| / ||f(x)||``, measured with
:func:`wavelet_networks.testing.dilation_error` (eval mode, no gradients),
where ``D x`` is ``x`` stretched by 2 with ideal band-limited resampling
(:func:`wavelet_networks.testing.resample`). Inputs: periodic band-limited
noise (:func:`wavelet_networks.testing.bandlimited_noise`, cut off at
``--cutoff`` times Nyquist) at the model's expected input length.

Which input the dilated signal is compared on:

- Models with a global mean over time (the M-nets and their twins) accept any
  length: ``x`` has the expected length ``N`` (4 s) and ``D x`` has ``2N``, so
  both carry exactly the same content and nothing is cropped.
- Models with a flattening head (1D-CNN, SampleCNN and their twins) accept one
  window of about ``N`` samples only. They are measured as clip classifiers
  the way their papers apply them to longer clips: the logits of a signal are
  the mean of the logits of its consecutive ``N``-sample windows. ``x`` is one
  window; ``D x`` is two windows, whose logits are averaged.

Next to it, a noise floor: the same ratio between two independent noise
inputs of the same spectrum, ``||f(x') - f(x)|| / ||f(x)||``. Global pooling
makes the logits of such inputs nearly equal; an error near the floor means
the model does not see the dilation, an error far above it means it does.

Weights are random (the model's init) unless ``--ckpt name=path`` gives
trained weights. With random weights the batch-norm running statistics are
first calibrated on ``--calibrate`` batches of two noise inputs of the same
kind (train mode, cumulative average), so that every layer sees normalised
activations as in a trained network; without it (``--calibrate 0``) batch
norm is the identity in eval mode, activations shrink or grow with depth and
the logits of the deeper random networks are dominated by input-independent
terms (e.g. the bias of SampleCNN's linear head). Float32 on the CPU.

Usage::

    python benchmarks/dilation_robustness.py [--repeats 3] [--models m3 w-m3 ...]
        [--cutoff 0.25] [--calibrate 1] [--ckpt w-m5=runs/w-m5.ckpt] [--json out.json]
    python benchmarks/dilation_robustness.py --profile w-m5   # which layer breaks it
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import Tensor, nn

from wavelet_networks import testing as wn_testing
from wavelet_networks.models import available, build, card
from wavelet_networks.nn import LiftingStem
from wavelet_networks.testing import bandlimited_noise, dilation_error


class ClipClassifier(nn.Module):
    """Mean of the logits over consecutive ``window``-sample windows of the input."""

    def __init__(self, model: nn.Module, window: int) -> None:
        super().__init__()
        self.model = model
        self.window = window

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[-1] // self.window
        if n < 1:
            raise ValueError(f"input of {x.shape[-1]} samples is shorter than one window")
        return torch.stack(
            [self.model(x[..., i * self.window : (i + 1) * self.window]) for i in range(n)]
        ).mean(0)


def pairs(names: list[str] | None) -> list[tuple[str, str]]:
    """(baseline, twin) pairs of the zoo, restricted to ``names`` if given."""
    paper_order = ["m3", "m5", "m11", "m18", "m34-res", "1d-cnn", "samplecnn"]
    ordered = sorted(
        available(),
        key=lambda n: (n not in paper_order, paper_order.index(n) if n in paper_order else 0, n),
    )
    out = []
    for name in ordered:
        c = card(name)
        if c.family == "baseline" and c.twin:
            if names is None or name in names or c.twin in names:
                out.append((name, c.twin))
    return out


def calibrate_batch_norm(module: nn.Module, length: int, cutoff: float, batches: int) -> None:
    """Set batch-norm running statistics to the cumulative average over noise batches of 2."""
    wn_testing.calibrate_batch_norm(module, (2, 1, length), batches, cutoff,
                                    torch.Generator().manual_seed(12345))


def measure(
    name: str, repeats: int, cutoff: float, ckpt: str | None, calibrate: int = 1, seed: int = 0
) -> dict[str, object]:
    c = card(name)
    num_classes = int(c.extra.get("num_classes", 10))
    torch.manual_seed(seed)
    model = build(name, num_classes=num_classes, weights=ckpt)
    length = c.input_length
    fixed = getattr(model, "max_length", None) is not None
    module: nn.Module = ClipClassifier(model, length) if fixed else model
    start = time.perf_counter()
    calibrated = calibrate if ckpt is None else 0
    if calibrated:
        calibrate_batch_norm(model, length, cutoff, calibrated)
    errors, floors = [], []
    for r in range(repeats):
        g = torch.Generator().manual_seed(1000 + r)
        x = bandlimited_noise((1, 1, length), cutoff, g, dtype=torch.float32)
        errors.append(dilation_error(module, x, factor=2))
        # Noise floor: logits of an independent input with the same spectrum.
        other = bandlimited_noise((1, 1, length), cutoff, g, dtype=torch.float32)
        module.eval()
        with torch.no_grad():
            y, y_other = module(x), module(other)
        floors.append(((y_other - y).norm() / y.norm()).item())
    return {
        "name": name,
        "family": c.family,
        "input_length": length,
        "protocol": "clip mean over windows" if fixed else "whole signal, 2x length",
        "errors": errors,
        "median": statistics.median(errors),
        "max": max(errors),
        "floors": floors,
        "floor_median": statistics.median(floors),
        "weights": ckpt or "random",
        "batch_norm_calibration_batches": calibrated,
        "seconds": time.perf_counter() - start,
    }


def layer_profile(
    name: str, channels: int = 8, length: int = 16384, cutoff: float = 0.25
) -> list[tuple[str, list[float]]]:
    """Dilation error per output scale after every layer of ``model.features``.

    Random weights at reduced width, float64, band-limited noise of ``length``
    samples: shows which layer breaks the dilation equivariance of a twin.
    """
    torch.manual_seed(0)
    model = build(name, int(card(name).extra.get("num_classes", 10)), channels=channels)
    model = model.double().eval()
    x = bandlimited_noise((2, 1, length), cutoff, torch.Generator().manual_seed(1))
    # the fused stem's layers one by one: where between lifting and ReLU the error grows
    layers = [m for layer in model.features for m in _children_of_stem(layer)]
    rows = []
    for k, layer in enumerate(layers, start=1):
        errors = dilation_error(nn.Sequential(*layers[:k]), x, factor=2, per_scale=True)
        rows.append((f"{k}: {type(layer).__name__}", errors))
    return rows


def _children_of_stem(layer: nn.Module) -> list[nn.Module]:
    return list(layer) if isinstance(layer, LiftingStem) else [layer]


def profile_markdown(name: str, rows: list[tuple[str, list[float]]]) -> str:
    width = max(len(e) for _, e in rows)
    lines = [
        f"Dilation error of {name} (reduced width, random weights, float64) after every layer, "
        "per compared output scale j (scale j of the input vs j + 1 of the dilated input):",
        "",
        "| layer | " + " | ".join(f"j={j}" for j in range(width)) + " |",
        "|---|" + "---:|" * width,
    ]
    for label, errors in rows:
        cells = [f"{e:.3f}" for e in errors] + [""] * (width - len(errors))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def to_markdown(rows: list[tuple[dict, dict]], repeats: int) -> str:
    lines = [
        f"Relative change of the logits under a dilation by 2 (median / max over {repeats} "
        "band-limited noise inputs; lower is more robust):",
        "",
        "| baseline | error | floor | W- twin | error | floor | twin / baseline |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for b, w in rows:
        ratio = w["median"] / b["median"] if b["median"] else float("nan")
        lines.append(
            f"| {b['name']} | {b['median']:.3f} / {b['max']:.3f} | {b['floor_median']:.3f} | "
            f"{w['name']} | {w['median']:.3f} / {w['max']:.3f} | {w['floor_median']:.3f} | "
            f"{ratio:.2f} |"
        )
    lines += [
        "",
        "error: median / max of ||f(D x) - f(x)|| / ||f(x)||; floor: median of "
        "||f(x') - f(x)|| / ||f(x)|| for an independent noise input x' of the same spectrum.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="noise inputs per model")
    p.add_argument("--cutoff", type=float, default=0.25, help="band limit, fraction of Nyquist")
    p.add_argument("--models", nargs="*", help="only the pairs containing these names")
    p.add_argument(
        "--calibrate", type=int, default=1, help="noise batches to calibrate batch norm (0: none)"
    )
    p.add_argument(
        "--ckpt", action="append", default=[], metavar="NAME=PATH", help="trained weights"
    )
    p.add_argument("--json", default="benchmarks/dilation_robustness.json", help="output file")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument(
        "--profile",
        metavar="NAME",
        help="instead: per-layer, per-scale dilation errors of one wavelet net (reduced width)",
    )
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.profile:
        print(profile_markdown(args.profile, layer_profile(args.profile, cutoff=args.cutoff)))
        return 0
    ckpts = dict(item.split("=", 1) for item in args.ckpt)
    start = time.perf_counter()
    rows = []
    for base, twin in pairs(args.models):
        pair = []
        for name in (base, twin):
            res = measure(name, args.repeats, args.cutoff, ckpts.get(name), args.calibrate)
            print(f"{name:12s} median {res['median']:.4f} max {res['max']:.4f} "
                  f"({res['seconds']:.0f} s)", flush=True)  # fmt: skip
            pair.append(res)
        rows.append((pair[0], pair[1]))
    table = to_markdown(rows, args.repeats)
    wall = time.perf_counter() - start
    print()
    print(table)
    print(f"\nwall time {wall:.0f} s, {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip
    out = {
        "command": "python benchmarks/dilation_robustness.py "
        + " ".join(argv if argv is not None else __import__("sys").argv[1:]),
        "repeats": args.repeats,
        "cutoff": args.cutoff,
        "factor": 2,
        "dtype": "float32",
        "calibrate": args.calibrate,
        "wall_seconds": wall,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "results": [r for pair in rows for r in pair],
        "markdown": table,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Measure the equivariance errors that docs/equivariance.md quotes.

Usage: python benchmarks/equivariance.py [--seeds 4] [--json out.json]

Translation: float32, integer shifts, relative error away from borders.
Dilation: float64, input band-limited to a quarter of Nyquist, stretched by 2
with ideal resampling; relative error per compared output scale.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics

import torch
from torch import nn

import wavelet_networks as wn
from wavelet_networks.testing import bandlimited_noise, dilation_error, translation_error


def stack(with_relu: bool = True, antialiased: bool = False) -> nn.Module:
    layers = [wn.nn.LiftingConv1d(1, 8, 9, 7)]
    if with_relu:
        layers.append(wn.nn.AntiAliasedReLU() if antialiased else nn.ReLU())
    layers.append(wn.nn.GroupConv1d(8, 8, 3, 3))
    return nn.Sequential(*layers)


def four_layer_stack() -> nn.Module:
    return nn.Sequential(
        wn.nn.LiftingConv1d(1, 8, 9, 6), wn.nn.GroupBatchNorm(8), nn.ReLU(),
        wn.nn.GroupConv1d(8, 8, 3, 2), wn.nn.GroupBatchNorm(8), nn.ReLU(),
        wn.nn.GroupConv1d(8, 8, 3, 2, scale_boundary="truncate"), wn.nn.GroupBatchNorm(8),
        nn.ReLU(), wn.nn.GroupConv1d(8, 4, 3, 1),
    )  # fmt: skip


def measure(seeds: int) -> dict:
    translation = {
        "lifting L(5 scales, 11 taps)": (lambda: wn.nn.LiftingConv1d(2, 6, 11, 5), (2, 2, 1024)),
        "group conv, crop": (lambda: wn.nn.GroupConv1d(3, 5, 5, 3), (2, 3, 6, 1024)),
        "group conv, truncate": (
            lambda: wn.nn.GroupConv1d(3, 5, 5, 3, scale_boundary="truncate"),
            (2, 3, 6, 1024),
        ),
        "time max pool, stride 1": (lambda: wn.nn.TimeMaxPool(5, 1, 2), (2, 3, 4, 512)),
        "anti-aliased ReLU, oversample 2": (lambda: wn.nn.AntiAliasedReLU(), (2, 3, 4, 512)),
        "4-layer stack with BN + ReLU": (four_layer_stack, (2, 1, 1024)),
    }
    results: dict = {"translation": {}, "dilation": {}}
    for name, (make, shape) in translation.items():
        errs = []
        for seed in range(seeds):
            torch.manual_seed(seed)
            errs.append(max(translation_error(make(), torch.randn(shape), s) for s in (1, 7, -12)))
        results["translation"][name] = max(errs)
    dilation = {
        "lifting L(7 scales, 9 taps)": lambda: wn.nn.LiftingConv1d(1, 8, 9, 7),
        "lifting + ReLU + G(3 scales, 3 taps)": lambda: stack(True),
        "lifting + AntiAliasedReLU + G(3 scales, 3 taps)": lambda: stack(True, antialiased=True),
        "lifting + G(3 scales, 3 taps), no ReLU": lambda: stack(False),
    }
    for name, make in dilation.items():
        per_seed = []
        for seed in range(seeds):
            torch.manual_seed(seed)
            x = bandlimited_noise((2, 1, 4096), 0.25, torch.Generator().manual_seed(seed))
            per_seed.append(dilation_error(make().double(), x, factor=2, per_scale=True))
        results["dilation"][name] = {
            "median": [statistics.median(v) for v in zip(*per_seed, strict=True)],
            "max": [max(v) for v in zip(*per_seed, strict=True)],
        }
    return results


def to_markdown(results: dict, seeds: int) -> str:
    lines = [
        f"Translation (float32, shifts 1, 7, -12; worst of {seeds} seeds):",
        "",
        "| module | relative error |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:.1e} |" for k, v in results["translation"].items()]
    lines += [
        "",
        f"Dilation by 2 (float64; median [max] over {seeds} seeds, per output scale j "
        "compared with scale j+1 of the stretched input):",
        "",
        "| module | " + " | ".join(f"j={j}" for j in range(6)) + " |",
        "|---|" + "---:|" * 6,
    ]
    for k, v in results["dilation"].items():
        cells = [f"{m:.1e} [{x:.1e}]" for m, x in zip(v["median"], v["max"], strict=True)]
        cells += [""] * (6 - len(cells))
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--json", help="write the numbers to this JSON file")
    args = parser.parse_args()
    results = measure(args.seeds)
    results["machine"] = f"{platform.machine()}, {platform.processor() or 'cpu'}, torch {torch.__version__}"
    print(to_markdown(results, args.seeds))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()

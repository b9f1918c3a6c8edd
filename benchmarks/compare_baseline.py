"""Before/after comparison in one process: the current package against an older copy of it.

Usage: ``python benchmarks/compare_baseline.py BASELINE_DIR [--repeats N] [--output FILE]``
where ``BASELINE_DIR`` holds a copy of an older ``wavelet_networks`` package
renamed to ``wn_base`` (``git archive <commit> src/wavelet_networks`` and
``sed s/wavelet_networks/wn_base/g``). Steps of M11, W-M11 (current) and W-M11
(baseline) alternate, so that all three see the same machine load; wall and
process-CPU medians are reported, the W-M11/M11 ratios of both versions, and
the median over repeats of the current/baseline ratio of steps that follow
each other ("paired").
Freed memory is kept for reuse, as by the ``wavelet-networks`` command
(``WAVELET_NETWORKS_KEEP_MEMORY=0``: the system allocator's defaults).
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
from pathlib import Path

import torch

from wavelet_networks import bench, runtime


def _wm11_from(wn) -> torch.nn.Module:
    """W-M11 as a plain Sequential of package ``wn``'s unfused layers (any version)."""
    from torch import nn

    c = 51
    layers: list[nn.Module] = [
        wn.nn.LiftingConv1d(1, c, 79, 9),
        wn.nn.TimeMaxPool(4),
        wn.nn.GroupBatchNorm(c),
        nn.ReLU(),
        wn.nn.TimeMaxPool(4),
    ]
    c_in = c
    stages = [(c, 2), (2 * c, 2), (4 * c, 3), (8 * c, 2)]
    for i, (c_out, n) in enumerate(stages):
        for j in range(n):
            layers += [wn.nn.GroupConv1d(c_in, c_out, 3, 3 if j == 0 else 1)]
            layers += [wn.nn.GroupBatchNorm(c_out), nn.ReLU()]
            c_in = c_out
        if i < len(stages) - 1:
            layers.append(wn.nn.TimeMaxPool(4))
    layers += [_TimeMean(), wn.nn.GroupConv1d(c_in, 10, 1, 1), wn.nn.GlobalPool("max", "max")]
    return nn.Sequential(*layers)


class _TimeMean(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=-1, keepdim=True)


def _compare_layers(base, args) -> int:
    """Forward+backward of each benchmark layer, baseline and current alternating."""
    import wavelet_networks as wn

    dev = torch.device("cpu")
    res: dict = {"machine": bench.machine_description(dev), "layers": {}}
    for case in bench.layer_cases():
        if args.only and not any(key in case.name for key in args.only):
            continue
        x = torch.randn(case.shape, requires_grad=case.kind == "group")
        layers = {}
        for label, pkg in (("baseline", base), ("current", wn)):
            if case.kind == "stem":
                layers[label] = (
                    pkg.nn.LiftingStem(1, case.out_channels, case.kernel_size, case.num_scales)
                    if hasattr(pkg.nn, "LiftingStem")
                    else torch.nn.Sequential(  # the stem's layers, unfused
                        pkg.nn.LiftingConv1d(
                            1, case.out_channels, case.kernel_size, case.num_scales
                        ),
                        pkg.nn.TimeMaxPool(4),
                        pkg.nn.GroupBatchNorm(case.out_channels),
                        torch.nn.ReLU(),
                        pkg.nn.TimeMaxPool(4),
                    )
                )
            elif case.kind == "lifting+pool":  # the baseline has no fused layer
                layers[label] = torch.nn.Sequential(
                    pkg.nn.LiftingConv1d(
                        case.in_channels, case.out_channels, case.kernel_size, case.num_scales
                    ),
                    pkg.nn.TimeMaxPool(4),
                )
                if hasattr(pkg.nn, "LiftingConvMaxPool1d"):  # this package's own
                    layers[label] = pkg.nn.LiftingConvMaxPool1d(
                        case.in_channels, case.out_channels, case.kernel_size, case.num_scales,
                        case.pool,
                    )  # fmt: skip
            elif case.kind == "lifting":
                layers[label] = pkg.nn.LiftingConv1d(
                    case.in_channels, case.out_channels, case.kernel_size, case.num_scales
                )
            else:
                layers[label] = pkg.nn.GroupConv1d(
                    case.in_channels, case.out_channels, case.kernel_size, case.scale_kernel_size
                )
        times: dict[str, list[dict]] = {label: [] for label in layers}
        for _ in range(args.repeats):
            for label, layer in layers.items():

                def fb(layer=layer, x=x) -> None:
                    out = layer(x)
                    out.backward(torch.ones_like(out))

                times[label].append(bench.time_fn(fb, dev, 1, warmup=1))
        row = {
            label: {
                "wall_median_s": statistics.median(t["median_s"] for t in ts),
                "cpu_median_s": statistics.median(t["cpu_median_s"] for t in ts),
            }
            for label, ts in times.items()
        }
        row["speedup_cpu"] = row["baseline"]["cpu_median_s"] / row["current"]["cpu_median_s"]
        row["speedup_wall"] = row["baseline"]["wall_median_s"] / row["current"]["wall_median_s"]
        res["layers"][case.name] = row
        print(
            f"{case.name:24s} fwd+bwd baseline {row['baseline']['cpu_median_s']:7.2f} cpu-s "
            f"current {row['current']['cpu_median_s']:7.2f} cpu-s  speedup {row['speedup_cpu']:.2f} "
            f"(wall {row['speedup_wall']:.2f})",
            flush=True,
        )
    if args.output:
        args.output.write_text(json.dumps(res, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("baseline_dir", type=Path)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=88200)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--layers", action="store_true", help="compare the layers, not the models")
    parser.add_argument(
        "--zoo",
        action="store_true",
        help="the baseline's own zoo W-M11 (with its fused layers), not its unfused layers",
    )
    parser.add_argument(
        "--only", nargs="*", default=None, help="layer names containing any of these"
    )
    args = parser.parse_args(argv)
    if runtime.keep_freed_memory_requested():  # as the wavelet-networks command does (both
        runtime.keep_freed_memory()  # versions run in this process, under the same allocator)
    sys.path.insert(0, str(args.baseline_dir))
    base = importlib.import_module("wn_base")
    dev = torch.device("cpu")
    torch.manual_seed(0)
    if args.layers:
        return _compare_layers(base, args)
    x = torch.randn(args.batch, 1, args.length)
    y = torch.randint(0, 10, (args.batch,))
    models = {
        "M11": bench.build_m11(),
        "W-M11": bench.build_wm11(),
        "W-M11 baseline": base.models.build("w-m11", 10) if args.zoo else _wm11_from(base),
    }
    steps = {name: bench._training_step(m, x, y) for name, m in models.items()}
    try:  # each version's products choose by their own timing (functional.fast._autotune)
        base_tuning = importlib.import_module("wn_base.bench").warm_up_tuning
    except (ImportError, AttributeError):  # a version without choices by timing
        base_tuning = lambda step: step()  # noqa: E731
    for name, step in steps.items():
        step()
        (base_tuning if name == "W-M11 baseline" else bench.warm_up_tuning)(step)
    runs: dict[str, list[dict]] = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name, step in steps.items():
            t = bench.time_fn(step, dev, 1, warmup=0)
            runs[name].append(t)
            print(
                f"{name:16s} wall {t['median_s']:8.2f} s  cpu {t['cpu_median_s']:8.2f} s",
                flush=True,
            )
    res: dict = {
        "machine": bench.machine_description(dev),
        "batch": args.batch,
        "length": args.length,
    }
    for name, ts in runs.items():
        res[name] = {
            "wall_median_s": statistics.median(t["median_s"] for t in ts),
            "cpu_median_s": statistics.median(t["cpu_median_s"] for t in ts),
        }
    for v in ("W-M11", "W-M11 baseline"):
        for k in ("wall", "cpu"):
            res[f"ratio {v} / M11 ({k})"] = res[v][f"{k}_median_s"] / res["M11"][f"{k}_median_s"]
    # the two versions' steps of one repeat follow each other: their ratio is robust to the
    # machine's load drifting over the run
    for k, key in (("wall", "median_s"), ("cpu", "cpu_median_s")):
        pairs = zip(runs["W-M11"], runs["W-M11 baseline"], strict=True)
        res[f"paired W-M11 / W-M11 baseline ({k})"] = statistics.median(a[key] / b[key] for a, b in pairs)
    print(json.dumps({k: v for k, v in res.items() if k.startswith(("ratio", "paired"))}, indent=2))
    if args.output:
        args.output.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

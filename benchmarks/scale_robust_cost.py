"""Training cost per epoch: every scale-robust model against its CNN twin and its W- model.

One process, one training step (forward, backward, Adam update) at a time,
the models of a group taking turns (A B C A B C ...) so that a change of load
on the machine touches all of them alike; the median step time times the
steps of one epoch of the group's protocol gives the cost per epoch, and the
ratios to the CNN twin are computed from the same medians.

Groups (batch, input length, training series per epoch):

- ``small``: small-cnn, w-small-cnn, w-small-cnn-robust on FordA's shape
  (batch 32, 500 samples, 2,881 training series: ``configs/forda.yaml``);
- ``m3`` ... ``m34-res``: each M-net, its W- twin and its robust variant on
  UrbanSound8K's shape (batch 8, 88,200 samples, 7,079 training clips of the
  paper's split: ``configs/urbansound8k_*.yaml``); ``--mnet_length`` times
  shorter inputs and scales the epoch to the protocol's length, and
  ``--mnet_batch`` a smaller batch (steps of the protocol's epoch scaled by the
  ratio of batches): the robust W-M-nets at 88,200 samples do not fit a batch
  of 8 in 24 GiB, and on short inputs their coarse scales, whose kernels reach
  far past the time axis after the pools, cost more than their share.

Usage::

    python benchmarks/scale_robust_cost.py [--groups small m5 ...] [--steps 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

from wavelet_networks.models import build

GROUPS = {
    "small": (("small-cnn", "w-small-cnn", "w-small-cnn-robust"), 2, 32, 500, 2881),
    **{k: ((k, f"w-{k}", f"w-{k}-robust"), 10, 8, 88200, 7079)
       for k in ("m3", "m5", "m11", "m18", "m34-res")},
}


def _step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> float:
    t0 = time.perf_counter()
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return time.perf_counter() - t0


def measure_group(key: str, steps: int, warmup: int, length: int | None = None,
                  batch: int | None = None) -> dict:  # fmt: skip
    """Step times of one group; ``length`` and ``batch`` (M-net groups) replace the
    protocol's, and the epoch's cost is scaled by the ratios of lengths and batches."""
    names, classes, protocol_batch, protocol_length, series = GROUPS[key]
    length = protocol_length if length is None or key == "small" else length
    batch = protocol_batch if batch is None or key == "small" else batch
    torch.manual_seed(0)
    models = [build(n, classes) for n in names]
    opts = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in models]
    x = torch.randn(batch, 1, length)
    y = torch.randint(0, classes, (batch,))
    times: list[list[float]] = [[] for _ in names]
    for i in range(warmup + steps):
        for k, (m, opt) in enumerate(zip(models, opts, strict=True)):
            t = _step(m, opt, x, y)
            if i >= warmup:
                times[k].append(t)
    steps_per_epoch = (math.ceil(series / protocol_batch) * protocol_batch / batch
                       * protocol_length / length)
    med = [statistics.median(t) for t in times]
    return {
        "group": key, "batch": batch, "length": length, "protocol_length": protocol_length,
        "steps_per_epoch": steps_per_epoch,
        "models": [
            {"model": n, "params": sum(p.numel() for p in m.parameters()),
             "step_s": t, "median_step_s": md, "epoch_s": md * steps_per_epoch,
             "vs_cnn": md / med[0]}
            for n, m, t, md in zip(names, models, times, med, strict=True)
        ],
    }


def to_markdown(results: list[dict]) -> str:
    lines = ["| model | params | input (batch x samples) | step (s, median) | epoch (s) | "
             "/ CNN twin |", "|---|---:|---:|---:|---:|---:|"]
    for g in results:
        for r in g["models"]:
            lines.append(f"| {r['model']} | {r['params']:,} | {g['batch']} x {g['length']:,} | "
                         f"{r['median_step_s']:.3f} | "
                         f"{r['epoch_s']:.0f} | {r['vs_cnn']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--groups", nargs="*", default=list(GROUPS), choices=list(GROUPS))
    p.add_argument("--steps", type=int, default=5, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps per model first")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--mnet_length", type=int, default=None,
                   help="input length of the M-net groups (default: the protocol's 88,200); "
                   "the epoch cost is scaled to the protocol's length")
    p.add_argument("--mnet_batch", type=int, default=None,
                   help="batch of the M-net groups (default: the protocol's 8); the epoch cost "
                   "is scaled to the protocol's batch")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    results = []
    for key in args.groups:
        results.append(measure_group(key, args.steps, args.warmup, args.mnet_length,
                                     args.mnet_batch))
        for r in results[-1]["models"]:
            print(f"{r['model']:20s} step {r['median_step_s']:.3f} s, epoch "
                  f"{r['epoch_s']:.0f} s, {r['vs_cnn']:.2f} x CNN", flush=True)
    table = to_markdown(results)
    wall = time.perf_counter() - start
    print(table)
    print(f"wall time {wall:.0f} s, {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.json:
        out = {"command": "python benchmarks/scale_robust_cost.py "
               + " ".join(argv if argv is not None else sys.argv[1:]),
               "wall_seconds": round(wall, 1), "results": results, "markdown": table,
               "machine": {"platform": platform.platform(), "torch": torch.__version__,
                           "threads": torch.get_num_threads()}}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

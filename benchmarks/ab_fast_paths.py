"""Same-process A/B of the CPU fast paths against the paths they replace.

Usage: ``PYTHONPATH=src python benchmarks/ab_fast_paths.py [--repeats N] [--only NAME ...]``

Each comparison alternates the two variants ``--repeats`` times in one
process (so both see the same machine load) and prints medians of wall time.
Freed memory is kept for reuse, as by the ``wavelet-networks`` command
(``WAVELET_NETWORKS_KEEP_MEMORY=0``: the system allocator's defaults). Each
variant is a set of :mod:`wavelet_networks.settings` (``wn.configure``):

- ``stem-threads``: the W-M11 stem (``LiftingStem``, batch 8, 88,200
  samples) forward+backward, batch items on one Python thread per core
  against one thread driving torch's thread pool (``threads``);
- ``stem-fused``: a W-M11 training step with the fused stem against its
  layers one after the other;
- ``stem-native``: the W-M11 stem forward+backward with the pooling and its
  adjoint as compiled loops (``functional/fast/_native.c``) against torch
  operations (``native``);
- ``window-gradient``: the W-M11 stem, and its lifting fused with the first
  pool alone (``LiftingConvMaxPool1d``), forward+backward with the weight
  gradient formed from the windows' maxima (``_native.pool_grad``) against
  ``X^T dY`` from the dense ``dY`` (both compiled loops);
- ``product-rows``: the W-M11 stem and its fused lifting forward+backward
  with products of up to 2,048 rows of ``X`` (``product_rows``) against 1,024;
- ``stem-block``: the W-M11 stem with ``R = 8`` outputs per Toeplitz row
  (``fast.pooled.BLOCK``) against ``R = 16`` and ``R = 32``;
- ``keep-memory``: W-M11 and M11 training steps with freed memory kept for
  reuse (``wavelet_networks.runtime.keep_freed_memory``) against the system
  allocator's defaults (one warm-up step after each switch);
- ``group-native``: the group layers below forward+backward with the
  cascade smoothing and its adjoint as compiled loops against torch
  operations;
- ``group-threads``: W-M11's group layers forward+backward, one batch item
  per core against one batched call (``thread_min_item``);
- ``group-products``: the same layers on the threaded path without
  ``fast.itemwise``, the dilated taps as matrix products (whatever the output
  size) against oneDNN's ``conv1d`` (``product_channels``);
- ``itemwise``: the same layers where ``fast.itemwise`` applies (the
  smoothing after the channel mixing) against the input-side factorised form;
- ``norm-pool``: a W-M11 training step, and W-M11's stage-end batch norm,
  ReLU and max pool alone, with those three fused
  (``functional.batch_norm_relu_pool``) against the layers in a row;
- ``time-pool``: W-M11's max pools between stages as compiled loops
  (``fast.pooling``) against ``max_pool2d`` (``pool_min_item``);
- ``autotune``: a W-M11 training step, its stem and fused lifting, then
  the group layers below, with each product chosen by timing
  (``fast._autotune``: MKL's or oneDNN's matrix products in the lifting and
  in ``fast.itemwise``, MKL's or oneDNN's backward in
  ``fast.factorized._DilatedConv``; after warm-up runs until every choice is
  made) against MKL's products alone (``autotune_force``);
- ``conv-backward``: the same layers on the batched path (no threads), the
  backward of their dilated ``conv1d`` chosen by timing between matrix
  products and oneDNN's own (``fast.factorized._DilatedConv``, after warm-up
  runs until every choice is made) against oneDNN's own.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import wavelet_networks as wn
from wavelet_networks import bench, runtime
from wavelet_networks.functional.fast import _native, pooled
from wavelet_networks.nn.norm import run_fused

GROUP_LAYERS = [  # (c_in, c_out, M, input shape): W-M11's group convolutions, batch 8,
    (51, 51, 3, (8, 51, 9, 5512)),
    (51, 51, 1, (8, 51, 7, 5512)),
    (51, 102, 3, (8, 51, 7, 1378)),
    (102, 102, 1, (8, 102, 5, 1378)),
    (102, 204, 3, (8, 102, 5, 344)),
    (204, 204, 1, (8, 204, 3, 344)),
    (204, 408, 3, (8, 204, 3, 86)),
    (408, 408, 1, (8, 408, 1, 86)),
    (90, 90, 3, (2, 90, 9, 19683)),  # and W-SampleCNN's first two at batch 2 (of 23)
    (90, 90, 1, (2, 90, 7, 6561)),
]
Variants = dict[str, dict[str, object]]  # label: settings (wavelet_networks.configure)


def _ab(name: str, run: Callable[[], None], variants: Variants, repeats: int) -> None:
    """Time ``run`` under each variant's settings, alternating; print the medians.

    Also the median over repeats of the ratio within each repeat (``paired``): the
    two runs of a repeat follow each other, so it is robust to the machine's load
    drifting over the measurement.
    """
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(repeats):
        for label, changes in variants.items():
            with wn.configure(**changes):
                start = time.perf_counter()
                run()
                times[label].append(time.perf_counter() - start)
    medians = {label: statistics.median(ts) for label, ts in times.items()}
    (a, ta), (b, tb) = medians.items()
    paired = statistics.median(y / x for x, y in zip(times[a], times[b], strict=True))
    print(
        f"{name:36s} {a} {ta:7.3f} s   {b} {tb:7.3f} s   {b}/{a} {tb / ta:5.2f}"
        f"   paired {paired:5.2f}",
        flush=True,
    )


def _fwd_bwd(module: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        inp = x.clone().requires_grad_(x.dim() == 4)
        out = module(inp)
        out.backward(torch.ones_like(out))

    return run


def _step_ab(repeats: int, variants: Variants) -> None:
    """A W-M11 training step (batch 8, 88,200 samples) under each variant."""
    model = bench.build_wm11()
    step = bench._training_step(model, torch.randn(8, 1, 88200), torch.randint(0, 10, (8,)))
    step()
    _ab("W-M11 training step", step, variants, repeats)


def _stem_ab(repeats: int, variants: Variants) -> None:
    """The W-M11 stem forward+backward under each variant."""
    stem = wn.nn.LiftingStem(1, 51, 79, 9, (4, 4), eps=2e-5)
    _ab("W-M11 stem fwd+bwd", _fwd_bwd(stem, torch.randn(8, 1, 88200)), variants, repeats)


def _lifting_ab(repeats: int, variants: Variants) -> None:
    """The W-M11 stem, then its lifting fused with the first pool alone, under each variant."""
    _stem_ab(repeats, variants)
    layer = wn.nn.LiftingConvMaxPool1d(1, 51, 79, 9, pool_size=4)
    run = _fwd_bwd(layer, torch.randn(8, 1, 88200))
    _ab("W-M11 L+P(4) fwd+bwd", run, variants, repeats)


def _group_ab(repeats: int, variants: Variants, tune: bool = False) -> None:
    """W-M11's (and W-SampleCNN's first) group layers forward+backward under each variant."""
    for c_in, c_out, m, shape in GROUP_LAYERS:
        layer = wn.nn.GroupConv1d(c_in, c_out, 3, scale_kernel_size=m)
        run = _fwd_bwd(layer, torch.randn(shape))
        if tune:  # until every product's implementation is chosen
            with wn.configure(**next(iter(variants.values()))):
                bench.warm_up_tuning(run)
        _ab(f"G({m},3,{c_out}) {shape}", run, variants, repeats)


def _needs_native(name: str) -> bool:
    if _native.library() is None:
        print(f"{name}: skipped, the compiled loops are unavailable")
        return True
    return False


def stem_threads(repeats: int) -> None:
    _stem_ab(repeats, {"threads": {"threads": True}, "one-thread": {"threads": False}})


def stem_fused(repeats: int) -> None:
    _step_ab(repeats, {"fused-stem": {}, "layers": {"disabled": {"lifting_stem:fused"}}})


def stem_native(repeats: int) -> None:
    if not _needs_native("stem-native"):
        _stem_ab(repeats, {"native": {"native": True}, "torch": {"native": False}})


def window_gradient(repeats: int) -> None:
    if not _needs_native("window-gradient"):
        _lifting_ab(repeats, {"windows": {"window_gradient": True},
                              "dense": {"window_gradient": False}})  # fmt: skip


def product_rows(repeats: int) -> None:
    _lifting_ab(repeats, {"2048": {"product_rows": 2048}, "1024": {"product_rows": 1024}})


def stem_block(repeats: int) -> None:
    block = pooled.BLOCK
    try:
        for other in (16, 32):
            stem = wn.nn.LiftingStem(1, 51, 79, 9, (4, 4), eps=2e-5)
            run = _fwd_bwd(stem, torch.randn(8, 1, 88200))
            times: dict[int, list[float]] = {block: [], other: []}
            for _ in range(repeats):
                for r in times:
                    pooled.BLOCK = r  # a layout constant, not a setting: set between calls
                    start = time.perf_counter()
                    run()
                    times[r].append(time.perf_counter() - start)
            a, b = (statistics.median(times[r]) for r in (block, other))
            print(f"W-M11 stem fwd+bwd R={block} {a:7.3f} s   R={other} {b:7.3f} s   "
                  f"ratio {b / a:5.2f}", flush=True)  # fmt: skip
    finally:
        pooled.BLOCK = block


def keep_memory(repeats: int) -> None:
    if runtime._libc() is None:
        print("keep-memory: skipped, not glibc")
        return
    before = runtime.keeps_freed_memory()
    x, y = torch.randn(8, 1, 88200), torch.randint(0, 10, (8,))
    for name, model in (("W-M11", bench.build_wm11()), ("M11", bench.build_m11())):
        step = bench._training_step(model, x, y)
        times: dict[str, list[float]] = {"kept": [], "system": []}
        for _ in range(repeats):
            for label, flag in (("kept", True), ("system", False)):
                runtime.keep_freed_memory(flag)
                step()  # the first step after a switch fills (or empties) the heap
                start = time.perf_counter()
                step()
                times[label].append(time.perf_counter() - start)
        kept, system = (statistics.median(times[k]) for k in ("kept", "system"))
        print(f"{name} training step kept {kept:7.3f} s   system {system:7.3f} s   "
              f"system/kept {system / kept:5.2f}", flush=True)  # fmt: skip
    runtime.keep_freed_memory(before)


def group_native(repeats: int) -> None:
    if not _needs_native("group-native"):
        _group_ab(repeats, {"native": {"native": True}, "torch": {"native": False}})


def group_threads(repeats: int) -> None:
    _group_ab(repeats, {"per-item": {"thread_min_item": 0},
                        "batched": {"thread_min_item": 10**12}})  # fmt: skip


def group_products(repeats: int) -> None:
    common = {"thread_min_item": 0, "product_output": 10**12,
              "disabled": {"group_conv1d:itemwise"}}  # fmt: skip
    _group_ab(repeats, {"products": {**common, "product_channels": 32},
                        "conv1d": {**common, "product_channels": 10**9}})  # fmt: skip


def itemwise(repeats: int) -> None:
    _group_ab(repeats, {"itemwise": {}, "input-side": {"disabled": {"group_conv1d:itemwise"}}})


def time_pool(repeats: int) -> None:
    for shape in [(8, 51, 7, 5512), (8, 102, 5, 1378), (8, 204, 3, 344)]:
        run = _fwd_bwd(wn.nn.TimeMaxPool(4), torch.randn(shape))
        _ab(f"P(4) {shape}", run, {"compiled": {"pool_min_item": 0},
                                   "max_pool2d": {"pool_min_item": 10**12}}, repeats)  # fmt: skip


class _FusedRun(torch.nn.Module):
    def __init__(self, layers: torch.nn.Sequential) -> None:
        super().__init__()
        self.layers = layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_fused(self.layers, x)


def norm_pool_step(repeats: int) -> None:
    variants: Variants = {"fused": {}, "layers": {"disabled": {"batch_norm_relu_pool:fused"}}}
    _step_ab(repeats, variants)
    for shape in [(8, 51, 7, 5512), (8, 102, 5, 1378)]:
        layers = torch.nn.Sequential(
            wn.nn.GroupBatchNorm(shape[1]), torch.nn.ReLU(), wn.nn.TimeMaxPool(4)
        )
        _ab(f"BN ReLU P(4) {shape}", _fwd_bwd(_FusedRun(layers), torch.randn(shape)), variants,
            repeats)  # fmt: skip


def autotune(repeats: int) -> None:
    model = bench.build_wm11()
    step = bench._training_step(model, torch.randn(8, 1, 88200), torch.randint(0, 10, (8,)))
    print(f"W-M11 steps until every choice was made: {bench.warm_up_tuning(step)}")
    variants: Variants = {"tuned": {"autotune_force": None}, "mkl": {"autotune_force": 0}}
    _ab("W-M11 training step", step, variants, repeats)
    _lifting_ab(repeats, variants)
    _group_ab(repeats, variants, tune=True)


def conv_backward(repeats: int) -> None:
    batched = {"threads": False}  # the batched dilated conv1d, where _DilatedConv runs
    _group_ab(repeats, {"tuned": {**batched, "autotune_force": None},
                        "onednn": {**batched, "autotune_force": 1}}, tune=True)  # fmt: skip


COMPARISONS = {
    "stem-threads": stem_threads,
    "stem-fused": stem_fused,
    "stem-native": stem_native,
    "window-gradient": window_gradient,
    "product-rows": product_rows,
    "keep-memory": keep_memory,
    "stem-block": stem_block,
    "group-threads": group_threads,
    "group-native": group_native,
    "group-products": group_products,
    "conv-backward": conv_backward,
    "autotune": autotune,
    "itemwise": itemwise,
    "time-pool": time_pool,
    "norm-pool": norm_pool_step,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=sorted(COMPARISONS), default=None)
    args = parser.parse_args(argv)
    if runtime.keep_freed_memory_requested():  # as the wavelet-networks command does
        runtime.keep_freed_memory()
    print(bench.machine_description(torch.device("cpu")))
    torch.manual_seed(0)
    for name, fn in COMPARISONS.items():
        if args.only is None or name in args.only:
            fn(args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

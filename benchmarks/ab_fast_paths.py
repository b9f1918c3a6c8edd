"""Same-process A/B of the CPU fast paths against the paths they replace.

Usage: ``PYTHONPATH=src python benchmarks/ab_fast_paths.py [--repeats N] [--only NAME ...]``

Each comparison alternates the two variants ``--repeats`` times in one
process (so both see the same machine load) and prints medians of wall time.
Freed memory is kept for reuse, as by the ``wavelet-networks`` command
(``WAVELET_NETWORKS_KEEP_MEMORY=0``: the system allocator's defaults):

- ``stem-threads``: the W-M11 stem (``LiftingStem``, batch 8, 88,200
  samples) forward+backward, batch items on one Python thread per core
  against one thread driving torch's thread pool;
- ``stem-fused``: a W-M11 training step with the fused stem against its
  layers one after the other;
- ``stem-native``: the W-M11 stem forward+backward with the pooling and its
  adjoint as compiled loops (``functional/_native.c``) against torch
  operations;
- ``window-gradient``: the W-M11 stem, and its lifting fused with the first
  pool alone (``LiftingConvMaxPool1d``), forward+backward with the weight
  gradient formed from the windows' maxima (``_native.pool_grad``) against
  ``X^T dY`` from the dense ``dY`` (both compiled loops);
- ``product-rows``: the W-M11 stem and its fused lifting forward+backward
  with products of up to 2,048 rows of ``X`` (``pooled.ROWS``) against 1,024;
- ``stem-block``: the same with ``R = 8`` outputs per Toeplitz row against
  ``R = 16`` and ``R = 32``;
- ``keep-memory``: W-M11 and M11 training steps with freed memory kept for
  reuse (``wavelet_networks.runtime.keep_freed_memory``) against the system
  allocator's defaults (one warm-up step after each switch);
- ``group-native``: the group layers below forward+backward with the
  cascade smoothing and its adjoint as compiled loops against torch
  operations;
- ``group-threads``: W-M11's group layers forward+backward, one batch item
  per core against one batched call (the threshold ``MIN_ITEM`` decides);
- ``group-products``: the same layers on the threaded path, the dilated taps
  as matrix products (whatever the output size) against oneDNN's ``conv1d``;
- ``itemwise``: the same layers where ``functional.itemwise`` applies (the
  smoothing after the channel mixing) against the input-side factorised form;
- ``norm-pool``: a W-M11 training step, and W-M11's stage-end batch norm,
  ReLU and max pool alone, with those three fused
  (``functional.batch_norm_relu_pool``) against the layers in a row;
- ``time-pool``: W-M11's max pools between stages as compiled loops
  (``functional.pooling``) against ``max_pool2d``;
- ``autotune``: a W-M11 training step, its stem and fused lifting, then
  the group layers below, with each product chosen by timing
  (``functional._autotune``: MKL's or oneDNN's matrix products in the
  lifting and in ``functional.itemwise``, MKL's or oneDNN's backward in
  ``conv._DilatedConv``; after warm-up runs until every choice is made)
  against MKL's products alone;
- ``conv-backward``: the same layers where they run oneDNN's dilated ``conv1d``
  (batched, or W-SampleCNN's large outputs), its backward chosen by timing
  between matrix products and oneDNN's own (``conv._DilatedConv``, after
  warm-up runs until every choice is made) against oneDNN's own, at every
  time length.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import wavelet_networks as wn
from wavelet_networks import bench, runtime
from wavelet_networks.functional import (
    _autotune,
    _native,
    _threads,
    conv,
    norm_pool,
    pooled,
    pooling,
)
from wavelet_networks.nn import stem as stem_module
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


def _ab(name: str, run: Callable[[], None], variants: dict[str, Callable[[], None]], repeats: int):
    """Time ``run`` under each variant's setup, alternating; print the medians.

    Also the median over repeats of the ratio within each repeat (``paired``): the
    two runs of a repeat follow each other, so it is robust to the machine's load
    drifting over the measurement.
    """
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(repeats):
        for label, setup in variants.items():
            setup()
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


def _toggle(owner: object, name: str, values: dict[str, object]) -> dict[str, Callable[[], None]]:
    """One setup per variant: set ``owner.name`` to the variant's value."""
    return {label: (lambda v=v: setattr(owner, name, v)) for label, v in values.items()}


def _module_ab(
    repeats: int, label: str, module: torch.nn.Module, owner: object, name: str,
    values: dict[str, object],
) -> None:  # fmt: skip
    """``module`` forward+backward on W-M11's input under each value of ``owner.name``
    (restored after)."""
    saved = getattr(owner, name)
    try:
        run = _fwd_bwd(module, torch.randn(8, 1, 88200))
        _ab(label, run, _toggle(owner, name, values), repeats)
    finally:
        setattr(owner, name, saved)


def _stem_ab(repeats: int, owner: object, name: str, values: dict[str, object]) -> None:
    """The W-M11 stem forward+backward under each value of ``owner.name``."""
    stem = wn.nn.LiftingStem(1, 51, 79, 9, (4, 4), eps=2e-5)
    _module_ab(repeats, "W-M11 stem fwd+bwd", stem, owner, name, values)


def stem_threads(repeats: int) -> None:
    def one_thread(batch, work):
        return [work(list(range(batch)))]

    values = {"threads": _threads.split_batch, "one-thread": one_thread}
    _stem_ab(repeats, pooled, "split_batch", values)


def stem_fused(repeats: int) -> None:
    model = bench.build_wm11()
    step = bench._training_step(model, torch.randn(8, 1, 88200), torch.randint(0, 10, (8,)))
    step()
    fusable = stem_module.LiftingStem._fusable
    values = {"fused-stem": fusable, "layers": lambda self: False}
    _ab("W-M11 training step", step, _toggle(stem_module.LiftingStem, "_fusable", values), repeats)
    stem_module.LiftingStem._fusable = fusable


def stem_native(repeats: int) -> None:
    if _native.library() is None:
        print("stem-native: skipped, the compiled loops are unavailable")
        return
    _stem_ab(repeats, _native, "_enabled", {"native": True, "torch": False})


def _lifting_ab(repeats: int, owner: object, name: str, values: dict[str, object]) -> None:
    """The W-M11 stem, then its lifting fused with the first pool alone, under each value."""
    _stem_ab(repeats, owner, name, values)
    layer = wn.nn.LiftingConvMaxPool1d(1, 51, 79, 9, pool_size=4)
    _module_ab(repeats, "W-M11 L+P(4) fwd+bwd", layer, owner, name, values)


def window_gradient(repeats: int) -> None:
    if _native.library() is None:
        print("window-gradient: skipped, the compiled loops are unavailable")
        return
    _lifting_ab(repeats, pooled, "WINDOW_GRADIENT", {"windows": True, "dense": False})


def product_rows(repeats: int) -> None:
    _lifting_ab(repeats, pooled, "ROWS", {"2048": 2048, "1024": 1024})


def stem_block(repeats: int) -> None:
    block = pooled.BLOCK
    for other in (16, 32):
        _stem_ab(repeats, pooled, "BLOCK", {f"R={block}": block, f"R={other}": other})


def keep_memory(repeats: int) -> None:
    if runtime._libc() is None:
        print("keep-memory: skipped, not glibc")
        return
    before = runtime.keeps_freed_memory()
    x, y = torch.randn(8, 1, 88200), torch.randint(0, 10, (8,))
    for name, model in (("W-M11", bench.build_wm11()), ("M11", bench.build_m11())):
        step = bench._training_step(model, x, y)

        def use(flag, step=step):
            def setup():
                runtime.keep_freed_memory(flag)
                step()  # the first step after a switch fills (or empties) the heap

            return setup

        _ab(f"{name} training step", step, {"kept": use(True), "system": use(False)}, repeats)
    runtime.keep_freed_memory(before)


def _group(
    repeats: int, attr: tuple[object, str], on: object, off: object, labels: tuple[str, str],
    tune: bool = False,
) -> None:  # fmt: skip
    owner, name = attr
    saved = getattr(owner, name)
    for c_in, c_out, m, shape in GROUP_LAYERS:
        layer = wn.nn.GroupConv1d(c_in, c_out, 3, scale_kernel_size=m)
        run = _fwd_bwd(layer, torch.randn(shape))
        setattr(owner, name, on)
        if tune:  # until every product's implementation is chosen
            bench.warm_up_tuning(run)
        _ab(f"G({m},3,{c_out}) {shape}", run, _toggle(owner, name, {labels[0]: on, labels[1]: off}), repeats)
    setattr(owner, name, saved)


def group_native(repeats: int) -> None:
    if _native.library() is None:
        print("group-native: skipped, the compiled loops are unavailable")
        return
    _group(repeats, (_native, "_enabled"), True, False, ("native", "torch"))


def group_threads(repeats: int) -> None:
    _group(repeats, (_threads, "MIN_ITEM"), 0, 10**12, ("per-item", "batched"))


def group_products(repeats: int) -> None:
    saved = _threads.MIN_ITEM, conv.PRODUCT_OUTPUT
    _threads.MIN_ITEM = 0  # every layer on the per-item path, where the products apply
    conv.PRODUCT_OUTPUT = 10**12  # and the products at every output size
    _group(repeats, (conv, "PRODUCT_CHANNELS"), 32, 10**9, ("products", "conv1d"))
    _threads.MIN_ITEM, conv.PRODUCT_OUTPUT = saved


def time_pool(repeats: int) -> None:
    for shape in [(8, 51, 7, 5512), (8, 102, 5, 1378), (8, 204, 3, 344)]:
        saved = pooling.POOL_MIN_ITEM
        pool = wn.nn.TimeMaxPool(4)
        _ab(f"P(4) {shape}", _fwd_bwd(pool, torch.randn(shape)),
            _toggle(pooling, "POOL_MIN_ITEM", {"compiled": 0, "max_pool2d": 10**12}), repeats)  # fmt: skip
        pooling.POOL_MIN_ITEM = saved


def norm_pool_step(repeats: int) -> None:
    model = bench.build_wm11()
    step = bench._training_step(model, torch.randn(8, 1, 88200), torch.randint(0, 10, (8,)))
    step()
    saved = norm_pool.POOL_MIN_ITEM
    values = {"fused": saved, "layers": 10**12}
    _ab("W-M11 training step", step, _toggle(norm_pool, "POOL_MIN_ITEM", values), repeats)
    for shape in [(8, 51, 7, 5512), (8, 102, 5, 1378)]:
        layers = torch.nn.Sequential(wn.nn.GroupBatchNorm(shape[1]), torch.nn.ReLU(), wn.nn.TimeMaxPool(4))
        fused = _FusedRun(layers)
        _ab(f"BN ReLU P(4) {shape}", _fwd_bwd(fused, torch.randn(shape)),
            _toggle(norm_pool, "POOL_MIN_ITEM", values), repeats)  # fmt: skip
    norm_pool.POOL_MIN_ITEM = saved


class _FusedRun(torch.nn.Module):
    def __init__(self, layers: torch.nn.Sequential) -> None:
        super().__init__()
        self.layers = layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_fused(self.layers, x)


def itemwise(repeats: int) -> None:
    _group(repeats, (conv, "ITEMWISE"), True, False, ("itemwise", "input-side"))


def autotune(repeats: int) -> None:
    model = bench.build_wm11()
    step = bench._training_step(model, torch.randn(8, 1, 88200), torch.randint(0, 10, (8,)))
    print(f"W-M11 steps until every choice was made: {bench.warm_up_tuning(step)}")
    values = {"tuned": None, "mkl": 0}
    _ab("W-M11 training step", step, _toggle(_autotune, "_forced", values), repeats)
    _autotune._forced = None
    _lifting_ab(repeats, _autotune, "_forced", values)
    _group(repeats, (_autotune, "_forced"), None, 0, ("tuned", "mkl"), tune=True)


def conv_backward(repeats: int) -> None:
    _group(repeats, (conv, "PRODUCT_BACKWARD_TIME"), 0, 10**12, ("tuned", "onednn"), tune=True)


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

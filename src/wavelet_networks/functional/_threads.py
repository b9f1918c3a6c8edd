"""Batch items on parallel Python threads, each running single-threaded torch operations.

On a CPU, one layer of a wavelet network applied to a whole batch makes
tensors of tens to hundreds of megabytes; every elementwise operation streams
them through main memory and synchronises torch's thread pool. Applied to one
batch item at a time, on one core per Python thread, the same operations work
on a few megabytes that stay in that core's cache, and nothing synchronises
until the end. torch operations release the GIL, and so do the compiled
loops (:mod:`~wavelet_networks.functional._native`), so the threads run in
parallel. Measured on the 2-core development machine with
``benchmarks/ab_fast_paths.py --only stem-threads group-threads``
(forward+backward, alternating in one process, freed memory kept; saved in
``benchmarks/results/ab-fast-paths-cpu-2core-epyc.txt``): W-M11's fused stem
1.08 s against 1.55 s, ``G(3, 3, 51)`` 0.57 s against 0.67 s and
``G(1, 3, 51)`` 0.29 s against 0.34 s; on the Intel Xeon of a later round
(``ab-fast-paths-cpu-2core-xeon.txt``, the group layers by then in
:mod:`~wavelet_networks.functional.itemwise`) 1.18 s against 1.43 s, 0.38 s
against 0.67 s and 0.30 s against 0.34 s.

While the threads run, torch's own thread count is 1 (it is process-wide and
restored afterwards); with one torch thread, one batch item, a non-CPU device
or under ``torch.compile`` everything runs as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch
from torch import Tensor

__all__ = ["batch_parallel", "split_batch"]

_R = TypeVar("_R")


def split_batch(batch: int, work: Callable[[list[int]], _R]) -> list[_R]:
    """Run ``work`` on interleaved parts of ``range(batch)``, one Python thread per torch thread.

    Returns the results in part order (part ``w`` holds ``w, w + W, ...``).
    """
    threads = torch.get_num_threads()
    workers = min(threads, batch)
    if workers <= 1:
        return [work(list(range(batch)))]
    parts = [list(range(w, batch, workers)) for w in range(workers)]
    # grad, inference and autocast modes are thread-local: the workers take the caller's
    grad, inference = torch.is_grad_enabled(), torch.is_inference_mode_enabled()
    autocast = torch.is_autocast_enabled("cpu")
    dtype = torch.get_autocast_dtype("cpu")

    def run(part: list[int]) -> _R:
        with (
            torch.inference_mode(inference),
            torch.set_grad_enabled(grad),
            torch.autocast("cpu", dtype=dtype, enabled=autocast),
        ):
            return work(part)

    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(run, parts))
    finally:
        torch.set_num_threads(threads)


MIN_ITEM = 2**20  # elements per batch item below which one batched call is faster


def batch_parallel(fn: Callable[..., Tensor], x: Tensor, *params: Tensor | None) -> Tensor:
    """``fn(x, *params)`` computed one batch item at a time on parallel threads.

    ``fn`` must treat batch items independently (no batch statistics) and
    return a tensor whose first axis is the batch. Gradients flow to ``x`` and
    to every tensor in ``params`` (``None`` entries are passed through).
    Inputs of fewer than ``MIN_ITEM`` elements per batch item run as one call:
    measured on W-M11's group layers (2 cores, ``benchmarks/ab_fast_paths.py``),
    the threads pay from the first stage's ``(51, 7, 5512)`` per item on (1.25
    to 1.6x faster forward+backward over runs), break even at the second
    stage's ``(51, 7, 1378)`` (0.92 to 1.07x) and cost from the third on (0.75x
    and less).
    """
    parallel = (
        x.device.type == "cpu"
        and x.shape[0] > 1
        and x[0].numel() >= MIN_ITEM
        and torch.get_num_threads() > 1
        and not torch.compiler.is_compiling()
    )
    if not parallel:
        return fn(x, *params)
    return _BatchParallel.apply(fn, x, *params)


class _BatchParallel(torch.autograd.Function):
    """Per item: a small autograd graph recorded in forward, differentiated in backward."""

    @staticmethod
    def forward(ctx, fn, x, *params):  # type: ignore[override]
        wants = ctx.needs_input_grad[1:]
        graphs: list[tuple] = [()] * x.shape[0]

        def work(items: list[int]) -> None:
            for b in items:
                with torch.enable_grad():
                    inputs = [
                        None if t is None else t.detach().requires_grad_(want)
                        for t, want in zip((x[b : b + 1], *params), wants, strict=True)
                    ]
                    out = fn(*inputs)
                graphs[b] = (out, inputs)

        split_batch(x.shape[0], work)
        out = torch.cat([out.detach() for out, _ in graphs])
        ctx.graphs = graphs if any(wants) else None
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        graphs, wants = ctx.graphs, ctx.needs_input_grad[1:]
        grads: list[list[Tensor | None]] = [[] for _ in graphs]

        def work(items: list[int]) -> None:
            for b in items:
                out, inputs = graphs[b]
                targets = [t for t, want in zip(inputs, wants, strict=True) if want]
                got = iter(torch.autograd.grad(out, targets, grad[b : b + 1], allow_unused=True))
                grads[b] = [next(got) if want else None for want in wants]

        split_batch(len(graphs), work)
        ctx.graphs = None  # free the per-item graphs
        result: list[Tensor | None] = [None]  # for fn
        for i, want in enumerate(wants):
            parts = [g[i] for g in grads]
            if not want or all(part is None for part in parts):
                result.append(None)
            elif i == 0:  # the input: one slice per item
                shape = (1, *graphs[0][1][0].shape[1:])
                result.append(torch.cat([grad.new_zeros(shape) if g is None else g for g in parts]))
            else:  # a parameter: the sum over items
                result.append(torch.stack([g for g in parts if g is not None]).sum(0))
        return tuple(result)

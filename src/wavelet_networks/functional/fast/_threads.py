"""Batch items on parallel Python threads, each running single-threaded torch operations.

On a CPU, one layer of a wavelet network applied to a whole batch makes
tensors of tens to hundreds of megabytes; every elementwise operation streams
them through main memory and synchronises torch's thread pool. Applied to one
batch item at a time, on one core per Python thread, the same operations work
on a few megabytes that stay in that core's cache, and nothing synchronises
until the end. torch operations release the GIL, and so do the compiled
loops (:mod:`~wavelet_networks.functional.fast._native`), so the threads run in
parallel. Measured with ``benchmarks/ab_fast_paths.py --only stem-threads
group-threads`` (forward+backward, alternating in one process, freed memory
kept; ``benchmarks/results/ab-fast-paths-cpu-2core-*.txt``): on a 2-core AMD
EPYC, W-M11's fused stem 1.08 s against 1.55 s, ``G(3, 3, 51)`` 0.57 s against
0.67 s and ``G(1, 3, 51)`` 0.29 s against 0.34 s; on a 2-core Intel Xeon (the
group layers in :mod:`~wavelet_networks.functional.fast.itemwise`) 1.18 s
against 1.43 s, 0.38 s against 0.67 s and 0.30 s against 0.34 s.

The worker threads are started once per process (again in a forked child)
and each sets its own torch thread count to one: with torch's OpenMP backend
that count belongs to the thread that sets it, so the caller's and every
other thread's count stay as they are. Builds with another parallel backend
(where the count is process-wide) run the items one after another on the
calling thread, as do one torch thread, one batch item, a non-CPU device,
``torch.compile`` and the setting ``threads=False``
(:mod:`wavelet_networks.settings`).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch
from torch import Tensor

from wavelet_networks import settings

__all__ = ["batch_parallel", "parallel", "split_batch"]

_R = TypeVar("_R")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


@functools.cache
def _per_thread_counts() -> bool:
    """Whether torch's thread count belongs to each thread (its OpenMP backend)."""
    return "parallel backend: OpenMP" in torch.__config__.parallel_info()


def _one_torch_thread() -> None:
    # torch sets a thread's count from the process's on its first parallel work: first that,
    # then one thread for this worker alone (OpenMP's and MKL's counts are per thread)
    torch.get_num_threads()
    torch.set_num_threads(1)


def _workers(count: int) -> ThreadPoolExecutor:
    """The process's worker threads, at least ``count`` of them, each on one torch thread."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < count:
            if _pool is not None:
                _pool.shutdown(wait=False)
            threads = torch.get_num_threads()
            pool = ThreadPoolExecutor(count, "wavelet-networks", initializer=_one_torch_thread)
            started = threading.Barrier(count)  # every worker up before any work
            list(pool.map(lambda _: started.wait(), range(count)))
            # torch.set_num_threads also records the count that threads started later take
            # up: the caller's, as before the workers started
            torch.set_num_threads(threads)
            _pool, _pool_size = pool, count
        return _pool


def _forget_workers() -> None:
    global _pool, _pool_size, _lock
    _pool, _pool_size, _lock = None, 0, threading.Lock()  # a forked child has none of them


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)


def split_batch(batch: int, work: Callable[[list[int]], _R]) -> list[_R]:
    """Run ``work`` on interleaved parts of ``range(batch)``, one worker thread per torch thread.

    Returns the results in part order (part ``w`` holds ``w, w + W, ...``).
    """
    threads = torch.get_num_threads()
    workers = min(threads, batch)
    if workers <= 1 or not settings.current().threads or not _per_thread_counts():
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

    return list(_workers(workers).map(run, parts))


def batch_parallel(fn: Callable[..., Tensor], x: Tensor, *params: Tensor | None) -> Tensor:
    """``fn(x, *params)`` computed one batch item at a time on parallel threads.

    ``fn`` must treat batch items independently (no batch statistics) and
    return a tensor whose first axis is the batch. Gradients flow to ``x`` and
    to every tensor in ``params`` (``None`` entries are passed through).
    Where :func:`parallel` is false, one call.
    """
    if not parallel(x):
        return fn(x, *params)
    return _BatchParallel.apply(fn, x, *params)


def parallel(x: Tensor) -> bool:
    """Whether :func:`batch_parallel` splits ``x``: on the CPU, more than one item of at least
    ``thread_min_item`` values (:mod:`wavelet_networks.settings`), more than one torch thread."""
    config = settings.current()
    return (
        config.threads
        and x.device.type == "cpu"
        and x.shape[0] > 1
        and x[0].numel() >= config.thread_min_item
        and torch.get_num_threads() > 1
        and not torch.compiler.is_compiling()
    )


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

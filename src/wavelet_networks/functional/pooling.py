"""Pooling of group features over time (per scale), over scales, and globally."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from wavelet_networks._validation import check_choice, check_group
from wavelet_networks.functional import _native
from wavelet_networks.functional._threads import split_batch

__all__ = ["global_pool", "scale_pool", "time_avg_pool", "time_max_pool"]


def time_max_pool(
    x: Tensor, kernel_size: int, stride: int | None = None, padding: int = 0
) -> Tensor:
    """Max pooling over time, applied to every scale on its own.

    ``(batch, channels, scales, time) -> (batch, channels, scales, time')``.

    Non-overlapping windows (``stride == kernel_size``, no padding) run as compiled
    loops where they are available and batch items are large (``POOL_MIN_ITEM``):
    values and gradients those of ``max_pool2d`` (a NaN wins, ties send the
    gradient to the first), offsets kept as one byte instead of its 8-byte
    indices, batch items on parallel threads.
    """
    check_group(x)
    stride = kernel_size if stride is None else stride
    if (
        stride == kernel_size
        and padding == 0
        and 1 < kernel_size < 256
        and kernel_size <= x.shape[-1]
        and x.stride(-1) == 1
        and x[0].numel() >= POOL_MIN_ITEM
        and _native.available(x.dtype, x.device)
    ):
        return _TimeMaxPool.apply(x, kernel_size)
    return F.max_pool2d(x, (1, kernel_size), (1, stride), (0, padding))


# values per batch item from which the compiled loops (on threads) are used: at W-M11's
# first and second stages forward+backward took 0.48 and 0.59 times max_pool2d's time,
# at its third (items of 2.1e5 values) 1.15 times (benchmarks/ab_fast_paths.py --only
# time-pool, paired medians; benchmarks/results/ab-fast-paths-cpu-2core-xeon.txt)
POOL_MIN_ITEM = 2**19


class _TimeMaxPool(torch.autograd.Function):
    """:func:`time_max_pool` over non-overlapping windows, as compiled loops."""

    @staticmethod
    def forward(ctx, x, size):  # type: ignore[override]
        batch, c, s, time = x.shape
        out = x.new_empty(batch, c, s, time // size)
        off = torch.empty(out.shape, dtype=torch.uint8)
        split_batch(batch, lambda items: [_native.time_max(x[b], size, out[b], off[b]) for b in items])
        ctx.save_for_backward(off)
        ctx.meta = (size, time)
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (off,) = ctx.saved_tensors
        size, time = ctx.meta
        grad = grad if grad.stride(-1) == 1 else grad.contiguous()
        gx = grad.new_empty(*grad.shape[:3], time)
        split_batch(
            grad.shape[0],
            lambda items: [_native.time_unmax(grad[b], off[b], size, gx[b]) for b in items],
        )
        return gx, None


def time_avg_pool(
    x: Tensor, kernel_size: int, stride: int | None = None, padding: int = 0
) -> Tensor:
    """Average pooling over time, applied to every scale on its own.

    ``(batch, channels, scales, time) -> (batch, channels, scales, time')``.
    """
    check_group(x)
    stride = kernel_size if stride is None else stride
    return F.avg_pool2d(x, (1, kernel_size), (1, stride), (0, padding), count_include_pad=False)


def scale_pool(x: Tensor, mode: str = "max") -> Tensor:
    """Pool over the scale axis: ``(batch, channels, scales, time) -> (batch, channels, time)``.

    The result is invariant to dilations (up to the scales that fall off the grid).
    """
    check_group(x)
    check_choice(mode, "mode", ("max", "mean"))
    return x.amax(dim=2) if mode == "max" else x.mean(dim=2)


def global_pool(x: Tensor, time: str = "mean", scale: str = "max") -> Tensor:
    """Pool over time, then over scales: ``(batch, channels, scales, time) -> (batch, channels)``.

    The paper's networks use ``time="mean"``, ``scale="max"``: invariant to
    translations and dilations.
    """
    check_group(x)
    check_choice(time, "time", ("max", "mean"))
    x = x.amax(dim=3) if time == "max" else x.mean(dim=3)
    return scale_pool(x.unsqueeze(-1), scale).squeeze(-1)

"""Max pooling over time as compiled loops: one-byte offsets, batch items on threads."""

from __future__ import annotations

import torch
from torch import Tensor

from wavelet_networks import settings
from wavelet_networks.functional.fast import _native
from wavelet_networks.functional.fast._threads import split_batch

__all__ = ["applies", "time_max_pool"]


def applies(x: Tensor, kernel_size: int, stride: int | None = None, padding: int = 0) -> bool:
    """Non-overlapping windows (``stride == kernel_size``, no padding) of 2 to 255 samples,
    times contiguous, batch items of at least ``pool_min_item`` values
    (:mod:`wavelet_networks.settings`), where the compiled loops are available."""
    return (
        (stride is None or stride == kernel_size)
        and padding == 0
        and 1 < kernel_size < 256
        and kernel_size <= x.shape[-1]
        and x.stride(-1) == 1
        and x[0].numel() >= settings.current().pool_min_item
        and _native.available(x.dtype, x.device)
    )


def time_max_pool(x: Tensor, kernel_size: int, stride: int | None = None,
                  padding: int = 0) -> Tensor:  # fmt: skip
    """:func:`~wavelet_networks.functional.reference.time_max_pool` as compiled loops: the
    values and gradients of ``max_pool2d`` (a NaN wins, ties send the gradient to the
    first), the offsets kept as one byte instead of its 8-byte indices."""
    return _TimeMaxPool.apply(x, kernel_size)


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

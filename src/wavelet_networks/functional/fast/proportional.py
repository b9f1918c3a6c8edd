"""The scale-proportional max pool in O(T log k) per scale: block maxima, then doubling.

The reference takes the max over ``2 h_j + 1`` samples for every output,
``O(T h_j / r)`` per scale: at the coarse scales of a deep model (``h_j`` in the
thousands) that dominates the whole forward pass. Where the half-width is a
multiple ``q r`` of the stride ``r``, the window of output ``n`` is the ``2 q``
blocks ``[r m, r m + r)`` for ``m = n - q .. n + q - 1`` and the single sample
``r (n + q)``; the block maxima take one pass, and the max over ``2 q``
neighbouring blocks takes ``log2(2 q)`` passes of pairwise maxima (windows
of 1, 2, 4, ... blocks; two overlapping ones where ``2 q`` is not a power
of two). Every pairwise max keeps its left operand on ties and lets a NaN win,
and carries the index of its sample along, so the value and the sample that
receives the gradient are the reference's (the first maximum of the window);
the backward pass is one scatter of the gradient onto those samples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from wavelet_networks.functional.reference import scale_pool_halfwidths

__all__ = ["applies", "scale_proportional_max_pool"]


def _aligned(h: int, stride: int) -> bool:
    """Windows of at least two blocks on each side, made of whole blocks and one sample."""
    return stride > 1 and h >= 2 * stride and h % stride == 0


def applies(x: Tensor, kernel_size: int, stride: int | None = None, base: float = 2.0) -> bool:
    """Some scale's half-width is a multiple (at least 2) of the stride."""
    stride = kernel_size if stride is None else stride
    return any(_aligned(h, stride) for h in scale_pool_halfwidths(x.shape[2], kernel_size, base))


def _first_max(a: Tensor, ia: Tensor, b: Tensor, ib: Tensor) -> tuple[Tensor, Tensor]:
    """Elementwise max with its sample index: ``a`` on ties and where ``a`` is NaN, else the
    larger (a NaN in ``b`` wins)."""
    keep = (a >= b) | a.isnan()
    return torch.where(keep, a, b), torch.where(keep, ia, ib)


def _window_max(v: Tensor, i: Tensor, width: int) -> tuple[Tensor, Tensor]:
    """``max(v[..., k : k + width])`` (the first maximum) and its index, for every full window."""
    span = 1
    while 2 * span <= width:
        v, i = _first_max(v[..., :-span], i[..., :-span], v[..., span:], i[..., span:])
        span *= 2
    if span == width:
        return v, i
    cut = v.shape[-1] - (width - span)
    return _first_max(v[..., :cut], i[..., :cut], v[..., width - span :], i[..., width - span :])


def _pool_scale(x: Tensor, h: int, stride: int) -> tuple[Tensor, Tensor]:
    """``(..., T) -> (..., ceil(T / stride))`` and the index of each maximum in ``x``, for a
    half-width ``h = q * stride``."""
    q, t = h // stride, x.shape[-1]
    n = -(-t // stride)
    blocks = F.pad(x, (0, n * stride - t), value=-torch.inf).unflatten(-1, (n, stride))
    v, i = blocks.max(dim=-1)  # the first maximum of every block
    i = i + torch.arange(0, n * stride, stride, device=x.device)
    v = F.pad(v, (q, q), value=-torch.inf)
    i = F.pad(i, (q, q))  # never chosen: every window holds its own centre sample
    v, i = _window_max(v, i, 2 * q)  # blocks n - q .. n + q - 1
    v, i = v[..., :n], i[..., :n]
    last = F.pad(x, (0, (n + q) * stride + 1 - t), value=-torch.inf)
    last = last[..., q * stride :: stride][..., :n]  # sample (n + q) r, right of every block
    at = torch.arange(q * stride, (n + q) * stride, stride, device=x.device).expand_as(last)
    return _first_max(v, i, last, at)


def _pool_with_indices(x: Tensor, kernel_size: int, stride: int,
                       base: float) -> tuple[Tensor, Tensor]:  # fmt: skip
    values, indices = [], []
    for j, h in enumerate(scale_pool_halfwidths(x.shape[2], kernel_size, base)):
        if _aligned(h, stride):
            v, i = _pool_scale(x[:, :, j], h, stride)
        else:
            v, i = F.max_pool1d(x[:, :, j], 2 * h + 1, stride, h, return_indices=True)
        values.append(v)
        indices.append(i)
    return torch.stack(values, dim=2), torch.stack(indices, dim=2)


class _ProportionalMaxPool(torch.autograd.Function):
    """Values by block maxima and doubling; the gradient scattered onto the maxima."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride, base):  # type: ignore[override]
        y, idx = _pool_with_indices(x, kernel_size, stride, base)  # forward runs without grad
        ctx.save_for_backward(idx)
        ctx.length = x.shape[-1]
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):  # type: ignore[override]
        (idx,) = ctx.saved_tensors
        gx = grad.new_zeros(*grad.shape[:3], ctx.length)
        return gx.scatter_add_(-1, idx, grad), None, None, None


def scale_proportional_max_pool(x: Tensor, kernel_size: int, stride: int | None = None,
                                base: float = 2.0) -> Tensor:  # fmt: skip
    """:func:`~wavelet_networks.functional.reference.scale_proportional_max_pool` with the
    wide windows as block maxima and doubling (the others as the reference computes them);
    the backward pass scatters the gradient onto the saved positions of the maxima."""
    stride = kernel_size if stride is None else stride
    return _ProportionalMaxPool.apply(x, kernel_size, stride, base)

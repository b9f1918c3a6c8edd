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
so the value and the sample that receives the gradient are the reference's
(the first maximum of the window).
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


def _first_max(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise max that keeps ``a`` on ties and where ``a`` is NaN; a NaN in ``b`` wins."""
    return torch.where((a >= b) | a.isnan(), a, b)


def _window_max(blocks: Tensor, width: int) -> Tensor:
    """``out[..., i] = max(blocks[..., i : i + width])`` (first maximum), for every full window."""
    span, m = 1, blocks
    while 2 * span <= width:
        m = _first_max(m[..., :-span], m[..., span:])
        span *= 2
    if span == width:
        return m
    return _first_max(m[..., : m.shape[-1] - (width - span)], m[..., width - span :])


def _pool_scale(x: Tensor, h: int, stride: int) -> Tensor:
    """``(..., T) -> (..., ceil(T / stride))`` for a half-width ``h = q * stride``."""
    q, t = h // stride, x.shape[-1]
    n = -(-t // stride)
    blocks = F.pad(x, (0, n * stride - t), value=-torch.inf).unflatten(-1, (n, stride))
    blocks = blocks.max(dim=-1).values  # the first maximum of every block
    blocks = F.pad(blocks, (q, q), value=-torch.inf)
    spans = _window_max(blocks, 2 * q)[..., :n]  # blocks n - q .. n + q - 1
    last = F.pad(x, (0, (n + q) * stride + 1 - t), value=-torch.inf)
    last = last[..., q * stride :: stride][..., :n]  # sample (n + q) r, right of every block
    return _first_max(spans, last)


def scale_proportional_max_pool(x: Tensor, kernel_size: int, stride: int | None = None,
                                base: float = 2.0) -> Tensor:  # fmt: skip
    """:func:`~wavelet_networks.functional.reference.scale_proportional_max_pool` with the
    wide windows as block maxima and doubling (the others as the reference computes them)."""
    stride = kernel_size if stride is None else stride
    halfwidths = scale_pool_halfwidths(x.shape[2], kernel_size, base)
    return torch.stack([
        _pool_scale(x[:, :, j], h, stride) if _aligned(h, stride)
        else F.max_pool1d(x[:, :, j], 2 * h + 1, stride, h)
        for j, h in enumerate(halfwidths)
    ], dim=2)  # fmt: skip

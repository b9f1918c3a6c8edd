r"""Pooling that follows the scale of group features: scale-proportional time pools, readouts.

A max pool with the same window at every scale breaks dilation equivariance:
under a dilation by ``base`` the features of scale ``j`` move to scale
``j + 1`` and stretch by ``base`` in time, where a fixed window covers
``1 / base`` as much of the signal's own time. :func:`scale_proportional_max_pool` gives
scale ``j`` a window ``kernel_size * base**j`` long (centred, at the same
stride at every scale), so the dilated input's pooled features are the
original's, shifted by one scale and stretched in time.

:func:`scale_readout` pools group features over time and then over scales,
with weights over scales that taper at both ends of the grid (see its
docstring for why).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from wavelet_networks._validation import check_choice, check_group, check_positive_int
from wavelet_networks.grid import check_base

__all__ = [
    "READOUT_SCALE_MODES",
    "scale_pool_halfwidths",
    "scale_proportional_max_pool",
    "scale_readout",
    "scale_readout_weights",
]

READOUT_SCALE_MODES = ("mean", "max", "taper")


def scale_pool_halfwidths(num_scales: int, kernel_size: int, base: float = 2.0) -> list[int]:
    """Half-widths ``h_j = floor(kernel_size * base**j / 2)`` of the pool's windows per scale."""
    check_positive_int(num_scales, "num_scales")
    check_positive_int(kernel_size, "kernel_size")
    return [math.floor(kernel_size * base**j / 2 + 1e-9) for j in range(num_scales)]


def scale_proportional_max_pool(
    x: Tensor, kernel_size: int, stride: int | None = None, base: float = 2.0
) -> Tensor:
    r"""Max pool over time whose window grows with the scale: the dilation-equivariant pool.

    .. math:: y[b, c, j, n] = \max_{|\tau - n r| \le h_j} x[b, c, j, \tau],
        \qquad h_j = \lfloor \text{kernel\_size}\cdot\text{base}^j / 2 \rfloor

    with stride ``r`` (default ``kernel_size``), the same at every scale: window
    ``j`` holds ``2 h_j + 1`` samples centred on ``n r`` (clipped at the
    borders, where the samples outside do not count). For an integer base and
    an even ``kernel_size * base**j`` the window of scale ``j + 1`` is exactly
    the window of scale ``j`` stretched by ``base`` about its centre, so
    ``y`` of a dilated input is ``y`` shifted by one scale and stretched by
    ``base`` (up to the resampling of the features themselves). Output sample
    ``n`` sits at input time ``n r`` (not ``n r + (r - 1) / 2`` as a plain max
    pool's), so a dilation maps output samples to output samples.

    Computed from block maxima (see :func:`_window_argmax`), remembering where
    each maximum sits; the backward pass sends every output's gradient to that
    sample (overlapping windows add their gradients).

    Shapes: ``(batch, channels, scales, time) -> (batch, channels, scales, ceil(time / r))``.

    Args:
        x: group features.
        kernel_size: window length at scale 0 (``h_0 = kernel_size // 2``).
        stride: time step of the output (default ``kernel_size``).
        base: ratio between neighbouring scales of ``x``'s grid.
    """
    check_group(x)
    check_positive_int(kernel_size, "kernel_size")
    stride = kernel_size if stride is None else stride
    check_positive_int(stride, "stride")
    check_base(base)
    halfwidths = scale_pool_halfwidths(x.shape[2], kernel_size, base)
    return _ScaleProportionalMaxPool.apply(x, tuple(halfwidths), stride)


def _window_argmax(x: Tensor, halfwidths: tuple[int, ...], stride: int) -> Tensor:
    """Index (into the time axis) of the maximum of every window ``[n r - h_j, n r + h_j]``.

    ``x``: ``(batch, channels, scales, time)``; returns int64 of the output's shape.

    Where ``h_j`` is a multiple of the stride ``r`` (every scale but the first
    when ``kernel_size == stride`` and the base is 2), the window is the union of
    the ``2 h_j / r`` blocks ``[i r, i r + r)`` with ``n - h_j / r <= i < n + h_j / r``
    and the single sample ``n r + h_j``: the block maxima are taken once for all
    scales, then a max pool of ``2 h_j / r`` blocks at stride 1 runs on a sequence
    ``r`` times shorter than the input. Other windows are max-pooled directly.
    """
    batch, channels, _, time = x.shape
    n_out = -(-time // stride)
    # Block maxima: blocks [i r, i r + r), the end padded with -inf (never a maximum
    # while the window holds a real sample: each holds its centre n r < time).
    padded = F.pad(x, (0, n_out * stride - time), value=-math.inf)
    block_max, block_arg = padded.view(batch, channels, -1, n_out, stride).max(dim=-1)
    starts = torch.arange(n_out, device=x.device) * stride
    block_arg = block_arg + starts
    out = []
    for j, h in enumerate(halfwidths):
        xj = x[:, :, j]
        if h == 0:
            out.append(starts.expand(batch, channels, n_out))
            continue
        if h % stride:
            _, arg = F.max_pool1d(xj, 2 * h + 1, stride, h, return_indices=True)
            out.append(arg[..., :n_out])
            continue
        m = h // stride
        value, arg = F.max_pool1d(block_max[:, :, j], 2 * m, 1, m, return_indices=True)
        value, arg = value[..., :n_out], block_arg[:, :, j].gather(-1, arg[..., :n_out])
        end = starts + h  # the window's last sample, outside the blocks
        end_value = xj[..., end.clamp(max=time - 1)].masked_fill(end >= time, -math.inf)
        out.append(torch.where(end_value > value, end.expand_as(arg), arg))
    return torch.stack(out, dim=2)


class _ScaleProportionalMaxPool(torch.autograd.Function):
    """:func:`scale_proportional_max_pool`: maxima from blocks, gradients to the arg-maxima."""

    @staticmethod
    def forward(ctx, x, halfwidths, stride):  # type: ignore[override]
        index = _window_argmax(x, halfwidths, stride)
        ctx.save_for_backward(index)
        ctx.time = x.shape[-1]
        return x.gather(-1, index)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):  # type: ignore[override]
        (index,) = ctx.saved_tensors
        gx = grad.new_zeros(*grad.shape[:-1], ctx.time)
        # Windows overlap (they are longer than the stride), so one sample can be
        # the maximum of several outputs: its gradients add up.
        return gx.scatter_add_(-1, index, grad), None, None


def scale_readout_weights(num_scales: int, mode: str = "taper", dtype=None, device=None) -> Tensor:
    """The weights over scales of :func:`scale_readout` (``mode`` "mean" or "taper"); sum 1.

    "taper": ``w_j \\propto \\sin^2(\\pi (j + 1) / (S + 1))`` (a Hann window that is
    zero one step beyond each end of the grid); "mean": ``1 / S``.
    """
    check_positive_int(num_scales, "num_scales")
    check_choice(mode, "mode", ("mean", "taper"))
    if mode == "mean":
        return torch.full((num_scales,), 1.0 / num_scales, dtype=dtype, device=device)
    j = torch.arange(1, num_scales + 1, dtype=torch.float64)
    w = torch.sin(math.pi * j / (num_scales + 1)) ** 2
    return (w / w.sum()).to(dtype=dtype or torch.get_default_dtype(), device=device)


def scale_readout(x: Tensor, scale: str = "taper") -> Tensor:
    r"""Mean over time, then a pool over scales: ``(B, C, S, T) -> (B, C)``.

    .. math:: y_c = \sum_j w_j\, \frac1T \sum_t x_c(t, s_j)

    A dilation of the input by ``base`` shifts the scale axis by one step: one
    scale falls off one end of the grid and an unseen one comes in at the
    other. With ``scale="mean"`` (``w_j = 1/S``) the change is
    ``(x_new - x_lost) / S``; ``scale="taper"`` (:func:`scale_readout_weights`)
    gives the two end scales small weights, so what happens there (the new and
    the lost scale, and the finest scale's aliasing) counts little; a feature
    that varies over the whole scale axis moves either readout alike.
    ``scale="max"`` is the paper's head (``max_j``), invariant only while no
    channel peaks at an end scale.
    """
    check_group(x)
    check_choice(scale, "scale", READOUT_SCALE_MODES)
    h = x.mean(dim=3)
    if scale == "max":
        return h.amax(dim=2)
    return h @ scale_readout_weights(x.shape[2], scale, dtype=h.dtype, device=h.device)

r"""The mathematics of wavelet networks: one plain-torch reference for every operation.

This module is meant to be read next to the paper (Romero, Bekkers, Tomczak &
Hoogendoorn, "Wavelet Networks: Scale-Translation Equivariant Learning From
Raw Time-Series", TMLR 2024). Every public operation of
:mod:`wavelet_networks.functional` computes what the function of the same name
here computes; its faster implementations
(:mod:`wavelet_networks.functional.fast`) are tested against these, values and
gradients, and nothing here depends on them. Under
:func:`wavelet_networks.reference_mode` every operation runs these functions.

Conventions. Time series are ``(batch, channels, time)``; functions on the
scale-translation group are ``(batch, channels, scales, time)``, scale ``j``
being :math:`s_j = b^j` for the grid's base ``b``. Correlations follow
``torch.nn.functional.conv1d`` (no kernel flip).

Kernels. A kernel of ``K`` taps is a combination of shifted cardinal
B-splines of degree ``n`` (:mod:`wavelet_networks.splines`),

.. math:: \psi(x) = \sum_{k} w_k B^n(x - k), \quad
    k = -\lfloor K/2 \rfloor, \dots, K - 1 - \lfloor K/2 \rfloor,

and at scale ``s`` it is dilated, :math:`\psi_s(x) = \frac1s \psi(x/s)`,
sampled on the integers (:func:`spline_kernel`). A kernel of one tap is
pointwise at every scale (:math:`\psi = w\,\delta`): a single spline would be
a blur whose gain changes with scale. For an integer ``s`` the sampled kernel
factorises, :math:`\psi_s = h_s * (w \uparrow s)`: smoothing with
:math:`h_s[m] = B^n(m/s)/s` (:func:`smooth`) followed by the weights dilated
by ``s``; the fast paths compute it that way.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from wavelet_networks._validation import (
    check_choice,
    check_group,
    check_positive_int,
    check_signal,
)
from wavelet_networks.grid import ScaleGrid, check_base
from wavelet_networks.splines import bspline, check_order, sampled_bspline

__all__ = [
    "DEFAULT_BETA",
    "METHODS",
    "PADDINGS",
    "READOUT_SCALE_MODES",
    "SCALE_BOUNDARIES",
    "antialiased_activation",
    "batch_norm_relu_pool",
    "default_taps",
    "global_pool",
    "group_conv1d",
    "kernel_extent",
    "lifting_conv1d",
    "lifting_conv_max_pool1d",
    "lifting_stem",
    "lowpass_filter",
    "scale_pool",
    "scale_pool_halfwidths",
    "scale_proportional_max_pool",
    "scale_readout",
    "scale_readout_weights",
    "smooth",
    "spline_kernel",
    "time_avg_pool",
    "time_max_pool",
]

PADDINGS = ("same", "valid")
SCALE_BOUNDARIES = ("crop", "truncate")
METHODS = ("auto", "factorized", "direct", "fft")
"""How the convolutions are computed: "direct" (this module's sampled kernels),
"factorized" (smoothing, then the weights dilated; integer scales), "fft" or
"auto" (the fastest that applies). All give the same values."""


# --------------------------------------------------------------------------- kernels
def kernel_extent(kernel_size: int, scale: float, spline_order: int) -> tuple[int, int]:
    """Integer taps ``(left, right)`` of the sampled kernel ``psi_s``: it lives on ``[-left, right]``.

    ``psi_s`` is supported on ``s [-(K//2) - (n+1)/2, K - 1 - K//2 + (n+1)/2]``;
    one tap is pointwise, ``(0, 0)``.
    """
    if kernel_size == 1:
        return (0, 0)
    half = (spline_order + 1) / 2
    left = math.floor(scale * (kernel_size // 2 + half))
    right = math.floor(scale * (kernel_size - 1 - kernel_size // 2 + half))
    return left, right


def spline_kernel(weight: Tensor, scale: float, spline_order: int = 2) -> Tensor:
    r"""The spline kernel at scale ``s`` sampled on the integers.

    .. math:: \psi_s[x] = \frac1s \sum_k w_k B^n(x/s - k), \quad x = -\text{left} \dots \text{right}

    Args:
        weight: spline coefficients ``(..., K)``.
        scale: ``s > 0`` (any real number).
        spline_order: degree ``n`` of the B-spline.

    Returns:
        ``(..., left + right + 1)``, see :func:`kernel_extent`. One tap
        (``K = 1``) returns ``weight`` unchanged (pointwise kernel).
    """
    check_order(spline_order)
    k = weight.shape[-1]
    if k == 1:
        return weight
    left, right = kernel_extent(k, scale, spline_order)
    x = torch.arange(-left, right + 1, dtype=weight.dtype, device=weight.device)
    centres = torch.arange(k, dtype=weight.dtype, device=weight.device) - k // 2
    basis = bspline(x[None, :] / scale - centres[:, None], spline_order) / scale  # (K, taps)
    return weight @ basis


def smooth(x: Tensor, scale: float, spline_order: int = 2) -> Tensor:
    r"""Every row of ``x`` ``(..., L)`` smoothed at scale ``s``: the valid correlation with ``h_s``.

    .. math:: (x \star h_s)[t] = \sum_{|m| \le R} x[t + R + m]\, h_s[m],
        \qquad h_s[m] = B^n(m/s)/s, \quad R = \lfloor (n+1) s / 2 \rfloor

    Returns ``(..., L - 2R)``; entry ``t`` is centred on input sample ``t + R``.
    For an integer ``s``, ``psi_s = h_s * (w \uparrow s)``: correlating with
    ``psi_s`` is this smoothing followed by the weights dilated by ``s``.
    """
    h = sampled_bspline(scale, spline_order, dtype=x.dtype, device=x.device)  # symmetric
    rows = x.reshape(-1, 1, x.shape[-1])
    return F.conv1d(rows, h.view(1, 1, -1)).reshape(*x.shape[:-1], -1)


# --------------------------------------------------------------------------- convolutions
def _correlate(x: Tensor, weight: Tensor, scale: float, order: int, crop: tuple[int, int] | None,
               stride: int) -> Tensor:  # fmt: skip
    """``x`` ``(B, C, T)`` correlated with ``psi_s`` of ``weight`` ``(C_out, C, K)``.

    ``crop``: the coarsest kernel's extent for "valid" padding (every scale then
    has the same output times), ``None`` for "same" (zero padding).
    """
    psi = spline_kernel(weight, scale, order)
    left, right = kernel_extent(weight.shape[-1], scale, order)
    if crop is None:
        x = F.pad(x, (left, right))
    else:  # output time t is input time t + crop[0] at every scale
        x = x[..., crop[0] - left : x.shape[-1] - (crop[1] - right)]
    return F.conv1d(x, psi, stride=stride)


def _valid_crop(kernel_size: int, scales: list[float], order: int, padding: str,
                length: int) -> tuple[int, int] | None:  # fmt: skip
    """The coarsest kernel's extent where ``padding`` is "valid" (``None`` for "same")."""
    if padding == "same":
        return None
    extents = [kernel_extent(kernel_size, s, order) for s in scales]
    crop = (max(e[0] for e in extents), max(e[1] for e in extents))
    if length < crop[0] + crop[1] + 1:
        raise ValueError(
            f"with padding='valid' the signal must be at least as long as the kernel at the "
            f"coarsest scale ({crop[0] + crop[1] + 1} samples), got time length {length}"
        )
    return crop


def lifting_conv1d(
    x: Tensor,
    weight: Tensor,
    scales: ScaleGrid,
    bias: Tensor | None = None,
    *,
    spline_order: int = 2,
    stride: int = 1,
    padding: str = "same",
    method: str = "auto",
) -> Tensor:
    r"""Lifting convolution from the line to the scale-translation group.

    .. math:: (f \star \psi)(t, s_j) = \sum_{c}\sum_\tau f_c(\tau)\, \psi^{c}_{s_j}(\tau - t)

    with :math:`\psi_s(x) = \frac1s \sum_k w_k B^n(x/s - k)` (:func:`spline_kernel`).
    Shifting ``f`` shifts every scale of the output; dilating ``f`` by the
    grid's base shifts the output one scale up (and stretches its time).

    Args:
        x: signal ``(batch, in_channels, time)``.
        weight: spline coefficients ``(out_channels, in_channels, kernel_size)``.
        scales: the scale grid ``s_j``.
        bias: optional ``(out_channels,)``, shared by all scales and times.
        spline_order: B-spline degree ``n``.
        stride: time step of the output.
        padding: "same" (zero padding, output time ``ceil(time / stride)``) or
            "valid" (only where the kernel of the coarsest scale fits).
        method: how to compute it (see :data:`METHODS`; the values are the same).

    Returns:
        ``(batch, out_channels, num_scales, time')``.
    """
    check_lifting(x, weight, scales, bias, spline_order=spline_order, stride=stride,
                  padding=padding, method=method)  # fmt: skip
    grid = list(scales)
    if weight.shape[-1] == 1:  # pointwise: the same map at every scale
        y = F.conv1d(x, weight, stride=stride)
        out = y.unsqueeze(2).expand(-1, -1, len(grid), -1).contiguous()
    else:
        crop = _valid_crop(weight.shape[-1], grid, spline_order, padding, x.shape[-1])
        ys = [_correlate(x, weight, s, spline_order, crop, stride) for s in grid]
        out = torch.stack(ys, dim=2)
    return out if bias is None else out + bias[:, None, None]


def group_conv1d(
    x: Tensor,
    weight: Tensor,
    base: float = 2.0,
    bias: Tensor | None = None,
    *,
    spline_order: int = 2,
    scale_boundary: str = "crop",
    stride: int = 1,
    padding: str = "same",
    method: str = "auto",
) -> Tensor:
    r"""Group convolution on the scale-translation group.

    .. math::
        (F \star \Psi)(t, s_j) = \sum_{c}\sum_{m=0}^{M-1}\sum_\tau
            F_c(\tau, s_{j+m})\, \Psi^{c}_{s_j}(\tau - t, m)

    with :math:`\Psi_s(x, m) = \frac1s \sum_k w_{k,m} B^n(x/s - k)`: the kernel
    spans ``M`` neighbouring scales and is dilated by ``s_j`` at output scale
    ``j``. So output scale ``j`` is a lifting convolution (at the single scale
    ``s_j``) of the ``M`` input scales ``j .. j+M-1`` stacked as channels, and
    a dilation of the input, which shifts its scale axis, shifts the output's.

    Args:
        x: group features ``(batch, in_channels, scales, time)``; scale ``j`` is ``base**j``.
        weight: ``(out_channels, in_channels, scale_kernel_size, kernel_size)``.
        base: ratio between neighbouring scales.
        bias: optional ``(out_channels,)``.
        spline_order: B-spline degree ``n``.
        scale_boundary: "crop" (``scales - M + 1`` output scales, exactly
            equivariant) or "truncate" (``scales`` output scales; missing
            coarser scales count as zero, equivariant away from the coarse end).
        stride: time step of the output.
        padding: "same" or "valid" (as in :func:`lifting_conv1d`).
        method: how to compute it (see :data:`METHODS`; the values are the same).

    Returns:
        ``(batch, out_channels, scales', time')``.
    """
    check_group_conv(x, weight, base, bias, spline_order=spline_order,
                     scale_boundary=scale_boundary, stride=stride, padding=padding,
                     method=method)  # fmt: skip
    c_out, c_in, m, k = weight.shape
    if scale_boundary == "truncate":  # the M - 1 scales beyond the coarsest are zero
        x = F.pad(x, (0, 0, 0, m - 1))
    batch, _, num_scales, time = x.shape
    grid = [base**j for j in range(num_scales - m + 1)]
    crop = _valid_crop(k, grid, spline_order, padding, time)
    w = weight.reshape(c_out, c_in * m, k)  # input channel (c, m): channel c at scale j + m
    ys = [
        _correlate(x[:, :, j : j + m].reshape(batch, c_in * m, time), w, s, spline_order,
                   crop, stride)
        for j, s in enumerate(grid)
    ]  # fmt: skip
    out = torch.stack(ys, dim=2)
    return out if bias is None else out + bias[:, None, None]


# --------------------------------------------------------------------------- pooling
def time_max_pool(x: Tensor, kernel_size: int, stride: int | None = None,
                  padding: int = 0) -> Tensor:  # fmt: skip
    """Max pooling over time, applied to every scale on its own.

    ``(batch, channels, scales, time) -> (batch, channels, scales, time')``;
    ``stride`` defaults to ``kernel_size``. A NaN wins its window; a tie sends
    the gradient to the first maximum.
    """
    check_time_pool(x, kernel_size, stride, padding)
    stride = kernel_size if stride is None else stride
    return F.max_pool2d(x, (1, kernel_size), (1, stride), (0, padding))


def time_avg_pool(x: Tensor, kernel_size: int, stride: int | None = None,
                  padding: int = 0) -> Tensor:  # fmt: skip
    """Average pooling over time, applied to every scale on its own (padding not counted).

    ``(batch, channels, scales, time) -> (batch, channels, scales, time')``.
    """
    check_time_pool(x, kernel_size, stride, padding)
    stride = kernel_size if stride is None else stride
    return F.avg_pool2d(x, (1, kernel_size), (1, stride), (0, padding), count_include_pad=False)


def scale_pool(x: Tensor, mode: str = "max") -> Tensor:
    """Pool over the scale axis: ``(batch, channels, scales, time) -> (batch, channels, time)``.

    Invariant to dilations (up to the scales that fall off the grid).
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



# --------------------------------------------------------------------------- pooling in proportion to scale
READOUT_SCALE_MODES = ("mean", "max", "taper")
"""Weights over scales of :func:`scale_readout`."""


def scale_pool_halfwidths(num_scales: int, kernel_size: int, base: float = 2.0) -> list[int]:
    """Half-widths ``h_j = floor(kernel_size * base**j / 2)`` of the windows of
    :func:`scale_proportional_max_pool`, one per scale."""
    check_positive_int(num_scales, "num_scales")
    check_positive_int(kernel_size, "kernel_size")
    return [math.floor(kernel_size * base**j / 2 + 1e-9) for j in range(num_scales)]


def scale_proportional_max_pool(x: Tensor, kernel_size: int, stride: int | None = None,
                                base: float = 2.0) -> Tensor:  # fmt: skip
    r"""Max pool over time whose window grows with the scale: the dilation-equivariant pool.

    .. math:: y[b, c, j, n] = \max_{|\tau - n r| \le h_j} x[b, c, j, \tau],
        \qquad h_j = \lfloor \text{kernel\_size}\cdot\text{base}^j / 2 \rfloor

    with stride ``r`` (default ``kernel_size``), the same at every scale: the
    window of scale ``j`` holds ``2 h_j + 1`` samples centred on ``n r``
    (clipped at the borders: samples outside do not count). A pool with the
    same window at every scale breaks dilation equivariance: under a dilation
    by ``base`` the features of scale ``j`` move to scale ``j + 1`` stretched
    by ``base`` in time, where a fixed window covers ``1 / base`` as much of
    the signal's own time. Here, for an integer base and an even
    ``kernel_size * base**j``, the window of scale ``j + 1`` is the window of
    scale ``j`` stretched by ``base`` about its centre, so ``y`` of a dilated
    input is ``y`` shifted by one scale and stretched by ``base`` (up to the
    resampling of the features themselves). Output sample ``n`` sits at input
    time ``n r`` (a plain max pool's at ``n r + (r - 1) / 2``), so a dilation
    by ``base = r`` maps output samples onto output samples.

    ``(batch, channels, scales, time) -> (batch, channels, scales, ceil(time / r))``.
    A NaN wins its window; the gradient of a window goes to its maximum.
    """
    check_scale_proportional_pool(x, kernel_size, stride, base)
    stride = kernel_size if stride is None else stride
    halfwidths = scale_pool_halfwidths(x.shape[2], kernel_size, base)
    return torch.stack([F.max_pool1d(x[:, :, j], 2 * h + 1, stride, h)
                        for j, h in enumerate(halfwidths)], dim=2)  # fmt: skip


def scale_readout_weights(num_scales: int, mode: str = "taper", dtype: torch.dtype | None = None,
                          device: torch.device | str | None = None) -> Tensor:  # fmt: skip
    r"""The weights over scales of :func:`scale_readout` (``mode`` "mean" or "taper"); sum 1.

    "taper": :math:`w_j \propto \sin^2(\pi (j + 1) / (S + 1))`, a Hann window
    that is zero one step beyond each end of the grid; "mean": ``1 / S``.
    """
    check_positive_int(num_scales, "num_scales")
    check_choice(mode, "mode", ("mean", "taper"))
    dtype = dtype or torch.get_default_dtype()
    if mode == "mean":
        return torch.full((num_scales,), 1.0 / num_scales, dtype=dtype, device=device)
    j = torch.arange(1, num_scales + 1, dtype=torch.float64)
    w = torch.sin(math.pi * j / (num_scales + 1)) ** 2
    return (w / w.sum()).to(dtype=dtype, device=device)


def scale_readout(x: Tensor, scale: str = "taper") -> Tensor:
    r"""Mean over time, then a weighted pool over scales: ``(B, C, S, T) -> (B, C)``.

    .. math:: y_c = \sum_j w_j\, \frac1T \sum_t x_c(t, s_j)

    A dilation of the input by the grid's base shifts the scale axis by one
    step: one scale falls off one end of the grid and an unseen one comes in
    at the other. With ``scale="mean"`` (``w_j = 1/S``) the readout changes by
    ``(x_new - x_lost) / S``; ``scale="taper"`` (:func:`scale_readout_weights`)
    gives the two end scales small weights, so the new and the lost scale (and
    the finest scale's aliasing) count little, while a feature that varies
    over the whole scale axis moves either readout alike. ``scale="max"`` is
    the paper's head (``max_j``), invariant only while no channel peaks at an
    end scale.
    """
    check_group(x)
    check_choice(scale, "scale", READOUT_SCALE_MODES)
    h = x.mean(dim=3)
    if scale == "max":
        return h.amax(dim=2)
    return h @ scale_readout_weights(x.shape[2], scale, dtype=h.dtype, device=h.device)


# --------------------------------------------------------------------------- layer sequences
def lifting_conv_max_pool1d(
    x: Tensor,
    weight: Tensor,
    scales: ScaleGrid,
    pool_size: int,
    bias: Tensor | None = None,
    *,
    spline_order: int = 2,
    padding: str = "same",
) -> Tensor:
    r"""A lifting convolution followed by max pooling over time.

    .. math:: p_c(t, s_j) = \max_{0 \le a < P}\ (f \star \psi^c)(P t + a, s_j)

    ``x``, ``weight``, ``scales``, ``bias``, ``spline_order`` and ``padding`` are as
    for :func:`lifting_conv1d` (stride 1).

    Args:
        pool_size: ``P``, the max-pool window and stride over time.

    Returns:
        ``(batch, out_channels, num_scales, time' // pool_size)``, ``time'`` the
        lifting output length.
    """
    check_lifting_pool(x, weight, scales, pool_size, bias, spline_order=spline_order,
                       padding=padding)  # fmt: skip
    y = lifting_conv1d(x, weight, scales, bias, spline_order=spline_order, padding=padding)
    return time_max_pool(y, pool_size) if pool_size > 1 else y


def batch_norm_relu_pool(
    x: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None,
    bias: Tensor | None,
    training: bool,
    momentum: float,
    eps: float,
    pool_size: int,
) -> Tensor:
    """Batch norm (one statistic per channel), ReLU and max pool over time: the end of a stage.

    Args:
        x: group features ``(batch, channels, scales, time)``.
        running_mean: ``(channels,)``, updated in place when ``training`` (as
            :func:`torch.nn.functional.batch_norm`); ``None`` to always use the
            batch's statistics.
        running_var: ``(channels,)``, as ``running_mean``.
        weight: the batch norm's ``gamma`` ``(channels,)`` or ``None``.
        bias: the batch norm's ``beta`` ``(channels,)`` or ``None``.
        training: use (and record) the batch's statistics.
        momentum: weight of the batch's statistics in the running ones.
        eps: added to the variance.
        pool_size: the max pool's window and stride over time.

    Returns:
        ``(batch, channels, scales, time // pool_size)``.
    """
    check_norm_pool(x, running_mean, running_var, weight, bias, training, momentum, eps,
                    pool_size)  # fmt: skip
    use_batch = training or running_mean is None
    y = F.batch_norm(x, running_mean, running_var, weight, bias, use_batch, momentum, eps)
    return time_max_pool(F.relu(y), pool_size)


def lifting_stem(
    x: Tensor,
    weight: Tensor,
    scales: ScaleGrid,
    pool_sizes: tuple[int, int],
    running_mean: Tensor | None,
    running_var: Tensor | None,
    bn_weight: Tensor | None = None,
    bn_bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
    *,
    spline_order: int = 2,
    padding: str = "same",
) -> Tensor:
    r"""The stem of the paper's W-M-nets: lifting, max pool, batch norm, ReLU, max pool.

    ``L(S, K, C)``, ``P(P1)``, batch norm with one statistic per channel
    (shared over scales and time), ReLU, ``P(P2)``.

    Args:
        x: signal ``(batch, in_channels, time)``.
        weight: spline coefficients ``(out_channels, in_channels, kernel_size)``.
        scales: the scale grid.
        pool_sizes: ``(P1, P2)``: the max pools before and after the batch norm.
        running_mean: ``(out_channels,)`` running mean, updated in place when
            ``training``; ``None`` to always use the batch's statistics.
        running_var: ``(out_channels,)`` running variance, as ``running_mean``.
        bn_weight: the batch norm's ``gamma`` ``(out_channels,)``.
        bn_bias: the batch norm's ``beta`` ``(out_channels,)``.
        training: use (and record) the batch's statistics.
        momentum: weight of the batch's statistics in the running ones.
        eps: added to the variance.
        spline_order: B-spline degree ``n``.
        padding: "same" or "valid".

    Returns:
        ``(batch, out_channels, num_scales, (time' // P1) // P2)``.
    """
    check_stem(x, weight, scales, pool_sizes, running_mean, running_var, bn_weight, bn_bias,
               training, momentum, eps, spline_order=spline_order, padding=padding)  # fmt: skip
    p1, p2 = pool_sizes
    y = lifting_conv_max_pool1d(x, weight, scales, p1, spline_order=spline_order,
                                padding=padding)  # fmt: skip
    use_batch = training or running_mean is None
    y = F.relu(F.batch_norm(y, running_mean, running_var, bn_weight, bn_bias, use_batch,
                            momentum, eps))  # fmt: skip
    return time_max_pool(y, p2) if p2 > 1 else y


# --------------------------------------------------------------------------- nonlinearities
DEFAULT_HALF_WIDTH = 4
"""Half-width of the default anti-aliasing filters, in input samples (zero crossings per side)."""
DEFAULT_BETA = 6.0
"""Kaiser window shape of the default anti-aliasing filters (about 60 dB stopband)."""


def default_taps(oversample: int) -> int:
    """Default filter length at the oversampled rate: ``8 * oversample + 1`` (4 input samples per side)."""
    return 2 * DEFAULT_HALF_WIDTH * oversample + 1


@functools.lru_cache(maxsize=32)
def _filters(oversample: int, taps: int, beta: float) -> tuple[Tensor, Tensor]:
    m = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
    window = torch.kaiser_window(taps, periodic=False, beta=float(beta), dtype=torch.float64)
    h = torch.sinc(m / oversample) * window
    # Interpolation: every polyphase branch sums to one, so a constant stays exactly
    # constant; branch 0 is a unit impulse (the sinc vanishes at the other multiples of L).
    up = h.clone()
    for p in range(oversample):
        up[p::oversample] /= up[p::oversample].sum()
    return up, h / h.sum()


def lowpass_filter(
    oversample: int,
    taps: int | None = None,
    beta: float = DEFAULT_BETA,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    r"""The two symmetric ``(taps,)`` filters of :func:`antialiased_activation`.

    Both are the Kaiser-windowed sinc :math:`h[m] = \mathrm{sinc}(m/L)\, w_\beta[m]`,
    ``m = -(taps-1)/2 .. (taps-1)/2``, with cutoff at the input's Nyquist frequency
    (``1/L`` of the oversampled one). The interpolation filter has its ``L``
    polyphase branches normalised to sum to one (DC gain ``L``); the decimation
    filter sums to one.

    Returns:
        ``(interpolation, decimation)``.
    """
    taps = default_taps(oversample) if taps is None else taps
    check_antialiasing(oversample, taps, beta)
    up, down = _filters(oversample, taps, float(beta))  # cached: hand out copies
    return (
        up.to(device=device, dtype=dtype, copy=True),
        down.to(device=device, dtype=dtype, copy=True),
    )


def antialiased_activation(
    x: Tensor,
    activation: Callable[[Tensor], Tensor] = torch.relu,
    oversample: int = 2,
    taps: int | None = None,
    beta: float = DEFAULT_BETA,
) -> Tensor:
    r"""Apply a pointwise ``activation`` along time at ``oversample`` times the sample rate.

    .. math:: y[n] = \sum_m g[m - Ln]\; \sigma\Bigl(\sum_k x[k]\, h[m - Lk]\Bigr)

    with ``L = oversample``, ``h`` the interpolation and ``g`` the decimation
    filter of :func:`lowpass_filter` (symmetric, centred) and :math:`\sigma` the
    activation: upsample (zero-stuff and interpolate), apply :math:`\sigma`,
    low-pass and keep every ``L``-th sample. A pointwise nonlinearity on a
    sampled signal creates harmonics above the Nyquist frequency that fold back
    and break dilation equivariance at fine scales; here those between the
    input's Nyquist frequency and ``2L - 1`` times it are removed instead (as in
    alias-free networks, Karras et al. 2021).

    Time is the last axis; every other axis is a batch axis: ``(..., time) ->
    (..., time)``, e.g. ``(batch, channels, time)`` or ``(batch, channels,
    scales, time)``. The output keeps the input's length ("same"), dtype and
    device; outside ``[0, time)`` the signal is zero, as with the convolutions'
    zero padding. Integer shifts of the input shift the output by the same
    amount (exactly, away from the borders). ``oversample=1`` is the plain
    ``activation(x)``.

    Defaults, chosen by measurement (``benchmarks/equivariance.py``: lifting,
    anti-aliased ReLU and group conv, float64 input band-limited to a quarter
    of Nyquist, dilated by 2): ``oversample=2`` cuts the per-scale error by a
    factor of 3.5 to 4 at every scale (the third scale: 2.2e-3 with a plain
    ReLU, 5.8e-4); 4 gains another factor of 1.5 to 2.5 at twice the cost. The
    filters span 4 input samples per side (``taps = 8 L + 1``) with a Kaiser
    ``beta=6``: longer filters (8 or 16 samples per side) do not lower the
    dilation error (at the finest scale it measures higher: 4e-3 to 5e-3
    instead of 3e-3) and cost more; ``beta`` of 4 leaks too much of the
    stopband, and 2 samples per side are too short for the default ``beta``.

    Args:
        x: a floating-point tensor ``(..., time)`` with at least one dimension.
        activation: pointwise function (default ``torch.relu``).
        oversample: integer factor ``L >= 1``.
        taps: filter length at the oversampled rate, odd and ``>= 2 L + 1``
            (default ``8 L + 1``).
        beta: shape of the Kaiser window (larger: more stopband attenuation,
            wider transition band).
    """
    check_antialiased_activation(x, activation, oversample, taps, beta)
    taps = default_taps(oversample) if taps is None else taps
    if oversample == 1 or x.numel() == 0:
        return activation(x)
    up, down = lowpass_filter(oversample, taps, beta, dtype=x.dtype, device=x.device)
    lead, time = x.shape[:-1], x.shape[-1]
    rows = x.reshape(-1, 1, time, 1)
    zeros = rows.new_zeros(rows.shape[0], 1, time, oversample - 1)
    stuffed = torch.cat([rows, zeros], dim=-1).reshape(-1, 1, time * oversample)
    c = (taps - 1) // 2  # the filters are symmetric: correlation is convolution
    high = activation(F.conv1d(stuffed, up.view(1, 1, -1), padding=c))
    y = F.conv1d(high, down.view(1, 1, -1), padding=c)[..., ::oversample]
    return y.reshape(*lead, time)


# --------------------------------------------------------------------------- argument checks
def _check_weight(weight: Tensor, ndim: int, layout: str) -> None:
    if weight.dim() != ndim:
        raise ValueError(
            f"weight must have {ndim} dimensions {layout}, got shape {tuple(weight.shape)}"
        )


def _check_grid(scales: object) -> None:
    if not isinstance(scales, ScaleGrid):
        raise TypeError(f"scales must be a wavelet_networks.ScaleGrid, got {type(scales).__name__}")


def _check_method(method: str, integer: bool) -> None:
    check_choice(method, "method", METHODS)
    if method == "factorized" and not integer:
        raise ValueError("method='factorized' needs integer scales (an integer base)")


def check_lifting(x: Tensor, weight: Tensor, scales: ScaleGrid, bias: Tensor | None = None, *,
                  spline_order: int = 2, stride: int = 1, padding: str = "same",
                  method: str = "auto") -> None:  # fmt: skip
    """Raise a ValueError naming what is wrong with :func:`lifting_conv1d`'s arguments."""
    check_signal(x)
    _check_weight(weight, 3, "(out_channels, in_channels, kernel_size)")
    check_signal(x, weight.shape[1])
    _check_grid(scales)
    check_order(spline_order)
    check_positive_int(stride, "stride")
    check_choice(padding, "padding", PADDINGS)
    _check_method(method, scales.is_integer)
    if weight.shape[-1] > 1:
        _valid_crop(weight.shape[-1], list(scales), spline_order, padding, x.shape[-1])


def check_group_conv(x: Tensor, weight: Tensor, base: float = 2.0, bias: Tensor | None = None,
                     *, spline_order: int = 2, scale_boundary: str = "crop", stride: int = 1,
                     padding: str = "same", method: str = "auto") -> None:  # fmt: skip
    """Raise a ValueError naming what is wrong with :func:`group_conv1d`'s arguments."""
    check_group(x)
    _check_weight(weight, 4, "(out_channels, in_channels, scale_kernel_size, kernel_size)")
    check_group(x, weight.shape[1])
    check_base(base)
    check_order(spline_order)
    check_positive_int(stride, "stride")
    check_choice(padding, "padding", PADDINGS)
    check_choice(scale_boundary, "scale_boundary", SCALE_BOUNDARIES)
    m, k, num_scales = weight.shape[2], weight.shape[3], x.shape[2]
    if scale_boundary == "crop" and num_scales < m:
        raise ValueError(
            f"scale_boundary='crop' needs at least scale_kernel_size={m} scales, got an "
            f"input with {num_scales} scales (shape {tuple(x.shape)}); use fewer "
            f"scale taps or scale_boundary='truncate'"
        )
    _check_method(method, float(base).is_integer())
    if k > 1:
        out_scales = num_scales - m + 1 if scale_boundary == "crop" else num_scales
        grid = [base**j for j in range(out_scales)]
        _valid_crop(k, grid, spline_order, padding, x.shape[-1])


def check_lifting_pool(x: Tensor, weight: Tensor, scales: ScaleGrid, pool_size: int,
                       bias: Tensor | None = None, *, spline_order: int = 2,
                       padding: str = "same") -> None:  # fmt: skip
    """Raise a ValueError naming what is wrong with :func:`lifting_conv_max_pool1d`'s arguments."""
    check_positive_int(pool_size, "pool_size")
    check_lifting(x, weight, scales, bias, spline_order=spline_order, padding=padding)


def check_stem(x: Tensor, weight: Tensor, scales: ScaleGrid, pool_sizes: tuple[int, int],
               running_mean: Tensor | None, running_var: Tensor | None,
               bn_weight: Tensor | None = None, bn_bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5, *,
               spline_order: int = 2, padding: str = "same") -> None:  # fmt: skip
    """Raise a ValueError naming what is wrong with :func:`lifting_stem`'s arguments."""
    if len(pool_sizes) != 2:
        raise ValueError(f"pool_sizes must be two pool sizes (P1, P2), got {pool_sizes!r}")
    check_positive_int(pool_sizes[0], "pool_sizes[0]")
    check_positive_int(pool_sizes[1], "pool_sizes[1]")
    check_lifting(x, weight, scales, spline_order=spline_order, padding=padding)
    if training or running_mean is None:  # as batch norm
        left, right = kernel_extent(weight.shape[-1], scales[-1], spline_order)
        time = x.shape[-1] - (left + right if padding == "valid" else 0)
        if x.shape[0] * scales.num_scales * (time // pool_sizes[0]) <= 1:
            raise ValueError(
                f"the batch norm needs more than one value per channel to use the batch's "
                f"statistics, got one (input shape {tuple(x.shape)})"
            )
    # as batch norm: one dtype throughout
    given = {"weight": weight, "bn_weight": bn_weight, "bn_bias": bn_bias,
             "running_mean": running_mean, "running_var": running_var}  # fmt: skip
    for name, t in given.items():
        if t is not None and t.dtype != x.dtype:
            raise ValueError(f"{name} must have the signal's dtype {x.dtype}, got {t.dtype}")


def check_time_pool(x: Tensor, kernel_size: int, stride: int | None = None,
                    padding: int = 0) -> None:  # fmt: skip
    """Raise a ValueError naming what is wrong with a time pool's arguments."""
    check_group(x)
    check_positive_int(kernel_size, "kernel_size")
    if stride is not None:
        check_positive_int(stride, "stride")
    check_positive_int(padding, "padding", minimum=0)


def check_scale_proportional_pool(x: Tensor, kernel_size: int, stride: int | None = None,
                                  base: float = 2.0) -> None:  # fmt: skip
    check_group(x)
    check_positive_int(kernel_size, "kernel_size")
    if stride is not None:
        check_positive_int(stride, "stride")
    check_base(base)


def check_norm_pool(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                    weight: Tensor | None, bias: Tensor | None, training: bool, momentum: float,
                    eps: float, pool_size: int) -> None:  # fmt: skip
    """Raise a ValueError naming what is wrong with :func:`batch_norm_relu_pool`'s arguments."""
    check_group(x)
    check_positive_int(pool_size, "pool_size")


def check_antialiasing(oversample: int, taps: int, beta: float) -> None:
    """Raise a ValueError naming what is wrong with the anti-aliasing filters' arguments."""
    if isinstance(oversample, bool) or not isinstance(oversample, int) or oversample < 1:
        raise ValueError(f"oversample must be an integer >= 1, got {oversample!r}")
    minimum = 2 * oversample + 1
    if isinstance(taps, bool) or not isinstance(taps, int) or taps < minimum or taps % 2 == 0:
        raise ValueError(
            f"taps must be an odd integer >= 2 * oversample + 1 = {minimum} (a centred "
            f"filter spanning at least one input sample per side), got {taps!r}"
        )
    if not (isinstance(beta, (int, float)) and not isinstance(beta, bool) and beta >= 0):
        raise ValueError(f"beta (the Kaiser window shape) must be a number >= 0, got {beta!r}")


def check_antialiased_activation(x: Tensor, activation: Callable[[Tensor], Tensor] = torch.relu,
                                 oversample: int = 2, taps: int | None = None,
                                 beta: float = DEFAULT_BETA) -> None:  # fmt: skip
    """Raise unless ``x`` is a floating-point ``(..., time)`` tensor and the filters are valid."""
    check_antialiasing(oversample, default_taps(oversample) if taps is None else taps, beta)
    if not isinstance(x, Tensor):
        raise TypeError(f"input must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 1:
        raise ValueError(
            "input must have at least 1 dimension (..., time), got a 0-dimensional tensor"
        )
    if not x.is_floating_point():
        raise ValueError(f"input must be a floating-point tensor, got dtype {x.dtype}")
    if x.shape[-1] < 1:
        raise ValueError(f"input must have at least 1 time sample, got shape {tuple(x.shape)}")

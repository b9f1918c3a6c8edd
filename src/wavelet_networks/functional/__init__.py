r"""Functional scale-translation convolutions, pooling and regularisation.

Conventions (see ``DESIGN.md``): time series are ``(batch, channels, time)``,
functions on the scale-translation group are ``(batch, channels, scales, time)``;
scale ``j`` is ``s_j = base**j``. A kernel of ``K`` taps is the spline

.. math:: \psi(x) = \sum_{k} w_k B^n(x - k), \quad k = -\lfloor K/2 \rfloor, \dots, K - 1 - \lfloor K/2 \rfloor

and at scale ``s`` it is :math:`\psi_s(x) = \frac1s \psi(x/s)`. For an integer
``s`` the sampled kernel factorises, :math:`\psi_s = h_s * (w \uparrow s)`:
smoothing with :math:`h_s[m] = B^n(m/s)/s` followed by a convolution with the
weights dilated by ``s``. A kernel of one tap (``K = 1``) is pointwise
(:math:`\psi = w\,\delta`) at every scale: a single spline would be a blur whose
gain changes with scale.
"""

from __future__ import annotations

import math

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
    "global_pool",
    "group_conv1d",
    "lifting_conv1d",
    "scale_pool",
    "spline_kernel",
    "time_avg_pool",
    "time_max_pool",
]

PADDINGS = ("same", "valid")
SCALE_BOUNDARIES = ("crop", "truncate")
METHODS = ("auto", "factorized", "direct")


# --------------------------------------------------------------------------- kernels
def kernel_extent(kernel_size: int, scale: float, order: int) -> tuple[int, int]:
    """Integer taps ``(left, right)`` of the sampled kernel ``psi_s``: it lives on ``[-left, right]``."""
    if kernel_size == 1:
        return (0, 0)
    half = (order + 1) / 2
    left = math.floor(scale * (kernel_size // 2 + half))
    right = math.floor(scale * (kernel_size - 1 - kernel_size // 2 + half))
    return left, right


def spline_kernel(weight: Tensor, scale: float, spline_order: int = 2) -> Tensor:
    r"""Sample the spline kernel at scale ``s`` on the integers: the direct formula.

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
    basis = bspline(x[None, :] / scale - centres[:, None], spline_order) / scale  # (K, L)
    return weight @ basis


# --------------------------------------------------------------------------- convolutions
def _conv_at_scale(
    x: Tensor,
    weight: Tensor,
    scale: float,
    order: int,
    pad: tuple[int, int],
    stride: int,
    factorized: bool,
) -> Tensor:
    """Cross-correlate ``(B, Cin, T)`` with the spline kernel ``weight (Cout, Cin, K)`` at ``scale``.

    ``pad`` zero-pads (or, if negative, crops) the input around the kernel's
    extent, so that ``pad = kernel_extent(...)`` gives "same" output.
    """
    k = weight.shape[-1]
    x = F.pad(x, pad)
    if k == 1:
        return F.conv1d(x, weight, stride=stride)
    if not factorized:
        return F.conv1d(x, spline_kernel(weight, scale, order), stride=stride)
    dilation = round(scale)
    h = sampled_bspline(dilation, order, dtype=x.dtype, device=x.device)
    channels = x.shape[1]
    # Smoothing is per channel: a depthwise convolution with the symmetric filter h_s.
    x = F.conv1d(x, h.expand(channels, 1, -1), groups=channels)
    return F.conv1d(x, weight, stride=stride, dilation=dilation)


def _paddings(
    kernel_size: int, scales: list[float], order: int, length: int, padding: str
) -> list[tuple[int, int]]:
    extents = [kernel_extent(kernel_size, s, order) for s in scales]
    if padding == "same":
        return extents
    left = max(e[0] for e in extents)
    right = max(e[1] for e in extents)
    if length < left + right + 1:
        raise ValueError(
            f"with padding='valid' the signal must be at least as long as the kernel at the "
            f"coarsest scale ({left + right + 1} samples), got time length {length}"
        )
    return [(-(left - lx), -(right - rx)) for lx, rx in extents]


def _use_factorized(method: str, scales: list[float]) -> bool:
    check_choice(method, "method", METHODS)
    integer = all(float(s).is_integer() for s in scales)
    if method == "factorized" and not integer:
        raise ValueError("method='factorized' needs integer scales (an integer base)")
    return integer if method == "auto" else method == "factorized"


def lifting_conv1d(
    x: Tensor,
    weight: Tensor,
    scales: ScaleGrid,
    spline_order: int = 2,
    bias: Tensor | None = None,
    stride: int = 1,
    padding: str = "same",
    method: str = "auto",
) -> Tensor:
    r"""Lifting convolution from the line to the scale-translation group.

    .. math:: (f \star \psi)(t, s_j) = \sum_{c}\sum_\tau f_c(\tau)\, \psi^{c}_{s_j}(\tau - t)

    with :math:`\psi_s(x) = \frac1s \sum_k w_k B^n(x/s - k)`.

    Args:
        x: signal ``(batch, in_channels, time)``.
        weight: spline coefficients ``(out_channels, in_channels, kernel_size)``.
        scales: the scale grid ``s_j``.
        spline_order: B-spline degree ``n``.
        bias: optional ``(out_channels,)``, shared by all scales and times.
        stride: time step of the output.
        padding: "same" (zero padding, output time ``ceil(time / stride)``) or
            "valid" (only where the kernel of the coarsest scale fits).
        method: "factorized" (smooth, then dilated conv; integer scales only),
            "direct" (sampled kernels) or "auto" (factorized when possible).

    Returns:
        ``(batch, out_channels, num_scales, time')``.
    """
    check_signal(x)
    _check_weight(weight, 3, "(out_channels, in_channels, kernel_size)")
    check_signal(x, weight.shape[1])
    check_order(spline_order)
    check_positive_int(stride, "stride")
    check_choice(padding, "padding", PADDINGS)
    grid = list(scales)
    factorized = _use_factorized(method, grid)
    pads = _paddings(weight.shape[-1], grid, spline_order, x.shape[-1], padding)
    out = torch.stack(
        [
            _conv_at_scale(x, weight, s, spline_order, pad, stride, factorized)
            for s, pad in zip(grid, pads, strict=True)
        ],
        dim=2,
    )
    return out if bias is None else out + bias[:, None, None]


def group_conv1d(
    x: Tensor,
    weight: Tensor,
    base: float = 2.0,
    spline_order: int = 2,
    scale_boundary: str = "crop",
    bias: Tensor | None = None,
    stride: int = 1,
    padding: str = "same",
    method: str = "auto",
) -> Tensor:
    r"""Group convolution on the scale-translation group.

    .. math::
        (F \star \Psi)(t, s_j) = \sum_{c}\sum_{m=0}^{M-1}\sum_\tau
            F_c(\tau, s_{j+m})\, \Psi^{c}_{s_j}(\tau - t, m)

    with :math:`\Psi_s(x, m) = \frac1s \sum_k w_{k,m} B^n(x/s - k)`: the kernel
    spans ``M`` neighbouring scales and is dilated by ``s_j`` at output scale ``j``.

    Args:
        x: group features ``(batch, in_channels, scales, time)``; scale ``j`` is ``base**j``.
        weight: ``(out_channels, in_channels, scale_kernel_size, kernel_size)``.
        base: ratio between neighbouring scales.
        spline_order: B-spline degree ``n``.
        scale_boundary: "crop" (``scales - M + 1`` output scales, exactly
            equivariant) or "truncate" (``scales`` output scales; missing
            coarser scales count as zero, equivariant away from the coarse end).
        bias: optional ``(out_channels,)``.
        stride: time step of the output.
        padding: "same" or "valid" (as in :func:`lifting_conv1d`).
        method: "auto", "factorized" or "direct" (as in :func:`lifting_conv1d`).

    Returns:
        ``(batch, out_channels, scales', time')``.
    """
    check_group(x)
    _check_weight(weight, 4, "(out_channels, in_channels, scale_kernel_size, kernel_size)")
    check_group(x, weight.shape[1])
    check_base(base)
    check_order(spline_order)
    check_positive_int(stride, "stride")
    check_choice(padding, "padding", PADDINGS)
    check_choice(scale_boundary, "scale_boundary", SCALE_BOUNDARIES)
    c_out, c_in, m, k = weight.shape
    num_scales = x.shape[2]
    if scale_boundary == "crop":
        if num_scales < m:
            raise ValueError(
                f"scale_boundary='crop' needs at least scale_kernel_size={m} scales, got an "
                f"input with {num_scales} scales (shape {tuple(x.shape)}); use fewer "
                f"scale taps or scale_boundary='truncate'"
            )
        out_scales = num_scales - m + 1
    else:
        out_scales = num_scales
        x = F.pad(x, (0, 0, 0, m - 1))
    grid = [base**j for j in range(out_scales)]
    factorized = _use_factorized(method, grid)
    pads = _paddings(k, grid, spline_order, x.shape[-1], padding)
    w = weight.reshape(c_out, c_in * m, k)
    batch, _, _, time = x.shape
    out = torch.stack(
        [
            _conv_at_scale(
                x[:, :, j : j + m].reshape(batch, c_in * m, time),
                w,
                s,
                spline_order,
                pad,
                stride,
                factorized,
            )
            for j, (s, pad) in enumerate(zip(grid, pads, strict=True))
        ],
        dim=2,
    )
    return out if bias is None else out + bias[:, None, None]


def _check_weight(weight: Tensor, ndim: int, layout: str) -> None:
    if weight.dim() != ndim:
        raise ValueError(
            f"weight must have {ndim} dimensions {layout}, got shape {tuple(weight.shape)}"
        )


# --------------------------------------------------------------------------- pooling
def time_max_pool(
    x: Tensor, kernel_size: int, stride: int | None = None, padding: int = 0
) -> Tensor:
    """Max pooling over time, applied to every scale on its own.

    ``(batch, channels, scales, time) -> (batch, channels, scales, time')``.
    """
    check_group(x)
    stride = kernel_size if stride is None else stride
    return F.max_pool2d(x, (1, kernel_size), (1, stride), (0, padding))


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

"""Sampling spline kernels at a scale: the direct formula that every fast path must match."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from wavelet_networks.splines import bspline, check_order

__all__ = ["kernel_extent", "spline_kernel", "window_geometry"]


def kernel_extent(kernel_size: int, scale: float, order: int) -> tuple[int, int]:
    """Integer taps ``(left, right)`` of the sampled kernel ``psi_s``: it lives on ``[-left, right]``."""
    if kernel_size == 1:
        return (0, 0)
    half = (order + 1) / 2
    left = math.floor(scale * (kernel_size // 2 + half))
    right = math.floor(scale * (kernel_size - 1 - kernel_size // 2 + half))
    return left, right


def window_geometry(
    time: int, kernel_size: int, dilations: list[int], order: int, padding: str
) -> tuple[tuple[int, int], int, list[int]]:
    """Where the factorised convolutions read: ``(pads, out_len, firsts)``.

    ``pads``: the zero padding ``(left, right)`` of the input ("same": the widest
    kernel's extent, "valid": none); ``out_len``: the output length. At scale
    ``d`` the input smoothed "valid" at ``d`` (entry ``i`` is padded time
    ``i + R_d``, see :func:`~wavelet_networks.functional.smoothing.radius`) is
    read from ``firsts[j]`` on, ``out_len + d (K - 1)`` times, by the ``K`` taps
    dilated by ``d``.
    """
    from wavelet_networks.functional.smoothing import radius

    k = kernel_size
    extents = [kernel_extent(k, d, order) for d in dilations]
    left = max(e[0] for e in extents)
    right = max(e[1] for e in extents)
    if padding == "same":
        out_len, start, pads = time, 0, (left, right)
    else:
        out_len, start, pads = time - left - right, left, (0, 0)
        left = 0
    firsts = [start - d * (k // 2) + left - radius(d, order) for d in dilations]
    return pads, out_len, firsts


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

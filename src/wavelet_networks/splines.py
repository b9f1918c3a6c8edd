r"""Cardinal B-splines: the basis in which every kernel of the library is expressed.

The centred cardinal B-spline of degree ``n`` is ``B^0 = 1_[-1/2, 1/2)`` and
``B^n = B^0 * B^(n-1)`` (convolution). In closed form

.. math::
    B^n(x) = \frac{1}{n!} \sum_{k=0}^{n+1} (-1)^k \binom{n+1}{k}
             \left(x + \tfrac{n+1}{2} - k\right)_+^n ,

supported on ``[-(n+1)/2, (n+1)/2]``. Integer shifts of ``B^n`` sum to one
(partition of unity) and satisfy the two-scale (refinement) relation

.. math::
    B^n(x/2) = \sum_{j=0}^{n+1} c_j\, B^n\!\left(x + \tfrac{n+1}{2} - j\right),
    \qquad c_j = 2^{-n} \binom{n+1}{j}.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["bspline", "bspline_support", "refinement_coefficients", "sampled_bspline"]


def check_order(order: int) -> None:
    """Raise a ValueError unless ``order`` is an integer >= 0."""
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise ValueError(f"spline_order must be an integer >= 0, got {order!r}")


def bspline_support(order: int) -> tuple[float, float]:
    """The support ``(-(n+1)/2, (n+1)/2)`` of the centred B-spline of degree ``order``."""
    check_order(order)
    half = (order + 1) / 2
    return (-half, half)


def bspline(x: Tensor, order: int) -> Tensor:
    """Evaluate the centred cardinal B-spline ``B^n`` of degree ``order`` at ``x``.

    Differentiable in ``x`` (almost everywhere), any shape, dtype and device.

    Args:
        x: points, any shape.
        order: degree ``n >= 0``.

    Returns:
        ``B^n(x)``, same shape as ``x``.
    """
    check_order(order)
    half = (order + 1) / 2
    inside = (x >= -half) & (x < half)
    if order == 0:
        return inside.to(x.dtype)
    out = torch.zeros_like(x)
    for k in range(order + 2):
        coef = (-1) ** k * math.comb(order + 1, k)
        out = out + coef * torch.clamp(x + half - k, min=0) ** order
    # Outside the support the truncated powers cancel only up to rounding.
    return torch.where(inside, out / math.factorial(order), torch.zeros_like(out))


def refinement_coefficients(order: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """Two-scale coefficients ``c_j = 2^-n binom(n+1, j)``, ``j = 0 .. n+1``.

    They satisfy ``B^n(x/2) = sum_j c_j B^n(x + (n+1)/2 - j)``: a B-spline
    dilated by 2 is a short combination of shifted B-splines, which gives the
    "a trous" cascade for smoothing at dyadic scales.
    """
    check_order(order)
    c = [math.comb(order + 1, j) / 2**order for j in range(order + 2)]
    return torch.tensor(c, dtype=dtype)


def sampled_bspline(
    scale: float,
    order: int,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """The smoothing filter ``h_s[m] = B^n(m / s) / s`` on the integers ``|m| <= R``.

    ``R = floor((n+1) s / 2)``: the filter is symmetric, has odd length
    ``2R + 1`` and, for integer ``s``, sums to exactly one.

    Args:
        scale: the scale ``s > 0``.
        order: spline degree ``n >= 0``.
    """
    check_order(order)
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    radius = math.floor((order + 1) * scale / 2)
    m = torch.arange(-radius, radius + 1, dtype=torch.float64, device=device)
    h = bspline(m / scale, order) / scale
    return h.to(dtype)

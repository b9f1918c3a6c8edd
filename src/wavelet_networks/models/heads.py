r"""Heads of the zoo's models that follow the paper's code where the library's layers differ.

:class:`SplineOneTapGroupConv1d` is the last layer of the paper's W-M-nets: a
group convolution with one time tap whose kernel is still sampled as a
B-spline at every scale, as the paper's code samples all its group kernels.
:class:`~wavelet_networks.nn.GroupConv1d` treats one time tap as pointwise
instead; the two differ by a blur over time whose centre weight is
``B(0) / s_j`` (``0.75 / 2**j`` for the quadratic spline).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from wavelet_networks import functional as WF
from wavelet_networks import nn as wnn
from wavelet_networks._validation import check_group
from wavelet_networks.splines import bspline

__all__ = ["SplineOneTapGroupConv1d", "spline_blur"]


def spline_blur(scale: float, spline_order: int, time: int, like: Tensor) -> Tensor:
    r"""The one-tap spline kernel at scale ``s``, sampled on the integers: ``B^n(m/s) / s``.

    Only the taps ``|m| < time`` can reach an output of a series of ``time``
    samples with zero padding, so the kernel is cut to those.

    Returns:
        ``(2 r + 1,)`` values for ``m = -r .. r``, ``r = min(floor((n + 1) s / 2), time - 1)``,
        in the dtype and on the device of ``like``.
    """
    r = min(math.floor((spline_order + 1) * scale / 2), time - 1)
    m = torch.arange(-r, r + 1, dtype=like.dtype, device=like.device)
    return bspline(m / scale, spline_order) / scale


class SplineOneTapGroupConv1d(wnn.GroupConv1d):
    r"""A one-tap group convolution whose kernel is a sampled spline at every scale.

    .. math:: \psi_{s}[m] = \frac{w}{s}\, B^n\!\left(\frac{m}{s}\right), \qquad
        y(t, s_j) = \sum_c \sum_{k=0}^{M-1} \sum_m F_c(t + m, s_{j+k})\, \psi^{c,k}_{s_j}[m]

    the spline kernel of :class:`~wavelet_networks.nn.GroupConv1d` with
    ``K = 1`` taken literally (zero padding over time), as the paper's code
    computes its last layer. On a time axis of length 1, which the W-M-nets
    give it after the mean over time, only ``m = 0`` remains:
    ``y(s_j) = B^n(0) / s_j`` times the pointwise product, i.e.
    ``0.75 / 2**j`` for quadratic splines on a dyadic grid. The max over scales
    that follows in the paper's models therefore compares scales weighted by
    ``0.75 / 2**j``; :class:`~wavelet_networks.nn.GroupConv1d` (pointwise)
    weights every scale the same.

    Same parameters and state-dict keys as :class:`~wavelet_networks.nn.GroupConv1d`
    (``kernel_size`` must be 1, ``padding="same"``, ``stride=1``).

    Shapes: ``(batch, in_channels, scales, time) -> (batch, out_channels, scales', time)``.
    """

    def __init__(self, in_channels: int, out_channels: int, scale_kernel_size: int, **kwargs) -> None:
        for key in ("kernel_size", "padding", "stride"):
            if key in kwargs:
                raise TypeError(f"{type(self).__name__} has one time tap, 'same' padding and "
                                f"stride 1; {key!r} cannot be set")
        super().__init__(in_channels, out_channels, 1, scale_kernel_size, **kwargs)

    def receptive_extent(self, num_scales: int | None = None) -> int:
        # the one-tap spline at the coarsest output scale, B^n(m / s) / s for |m| <= (n + 1) s / 2
        coarsest = self.base ** (self.output_scales(num_scales) - 1)
        return 2 * math.floor((self.spline_order + 1) * coarsest / 2) + 1

    def forward(self, x: Tensor) -> Tensor:
        check_group(x, self.in_channels)
        y = WF.group_conv1d(
            x, self.weight, self.base, None, spline_order=self.spline_order,
            scale_boundary=self.scale_boundary, method=self.method,
        )  # fmt: skip
        _, channels, scales, time = y.shape
        out = []
        for j in range(scales):
            blur = spline_blur(self.base**j, self.spline_order, time, y)
            if blur.numel() == 1:  # a time axis of one sample: the centre weight B(0) / s_j
                out.append(y[:, :, j] * blur)
            else:
                taps = blur.expand(channels, 1, -1)
                out.append(F.conv1d(y[:, :, j], taps, padding=blur.numel() // 2, groups=channels))
        y = torch.stack(out, dim=2)
        return y if self.bias is None else y + self.bias[:, None, None]

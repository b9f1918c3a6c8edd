"""Lifting and group convolution layers: thin wrappers of :mod:`wavelet_networks.functional`."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from wavelet_networks import functional as WF
from wavelet_networks._validation import check_choice, check_positive_int
from wavelet_networks.grid import ScaleGrid, check_base
from wavelet_networks.nn.module import EquivariantModule, Sequence
from wavelet_networks.nn.pooling import TimeMaxPool
from wavelet_networks.splines import check_order

__all__ = ["GroupConv1d", "LiftingConv1d", "LiftingConvMaxPool1d"]


class _SplineConv(EquivariantModule):
    """Shared by the spline convolutions: weights, optional bias, init, time arithmetic."""

    weight: Tensor
    bias: Tensor | None
    kernel_size: int
    spline_order: int
    padding: str
    stride: int
    base: float

    def _init_parameters(self, shape: tuple[int, ...], bias: bool, device, dtype) -> None:
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(shape, **factory))
        self.bias = nn.Parameter(torch.empty(shape[0], **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # The initialisation of torch.nn.ConvNd, with fan_in over channels, scale taps and time taps.
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight[0].numel()
            bound = 1 / math.sqrt(fan_in)
            nn.init.uniform_(self.bias, -bound, bound)

    def _coarsest(self, out_scales: int) -> tuple[int, int]:
        """The extent ``(left, right)`` of the kernel at the coarsest of ``out_scales`` scales."""
        return WF.kernel_extent(self.kernel_size, self.base ** (out_scales - 1), self.spline_order)

    def _length(self, length: int, out_scales: int) -> int:
        if self.padding == "same":
            return -(-length // self.stride)
        left, right = self._coarsest(out_scales)
        return (length - left - right - 1) // self.stride + 1

    @property
    def time_stride(self) -> int:
        return self.stride


class LiftingConv1d(_SplineConv):
    r"""Lifting convolution: a time series to a function on the scale-translation group.

    .. math:: (f \star \psi)(t, s_j) = \sum_c \sum_\tau f_c(\tau)\, \psi^c_{s_j}(\tau - t),
        \qquad \psi_s(x) = \frac1s \sum_k w_k B^n(x/s - k),\quad s_j = \text{base}^j

    Like a continuous wavelet transform whose wavelets are learned: every
    output channel is one spline kernel applied at all scales of the grid.

    Shapes: ``(batch, in_channels, time) -> (batch, out_channels, num_scales, time')``
    with ``time' = ceil(time / stride)`` for "same" padding.

    Args:
        in_channels: channels of the input series.
        out_channels: number of learned kernels.
        kernel_size: spline taps ``K`` at scale 1.
        num_scales: number of scales ``S`` of the grid.
        base: ratio between neighbouring scales (``> 1``).
        spline_order: B-spline degree ``n``.
        bias: add a learned bias per output channel.
        padding: "same" or "valid".
        stride: time step of the output.
        method: how to compute it, "auto", "factorized", "direct" or "fft" (see
            :func:`~wavelet_networks.functional.lifting_conv1d`; the values are the same).
        device: of the parameters.
        dtype: of the parameters.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_scales: int,
        base: float = 2.0,
        spline_order: int = 2,
        bias: bool = False,
        padding: str = "same",
        stride: int = 1,
        *,
        method: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        for value, name in (
            (in_channels, "in_channels"),
            (out_channels, "out_channels"),
            (kernel_size, "kernel_size"),
            (stride, "stride"),
        ):
            check_positive_int(value, name)
        check_order(spline_order)
        check_choice(padding, "padding", WF.PADDINGS)
        check_choice(method, "method", WF.METHODS)
        self.scales = ScaleGrid(num_scales, base)
        if method == "factorized" and not self.scales.is_integer:
            raise ValueError("method='factorized' needs an integer base")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.spline_order = spline_order
        self.padding = padding
        self.stride = stride
        self.method = method
        self._init_parameters((out_channels, in_channels, kernel_size), bias, device, dtype)

    @property
    def num_scales(self) -> int:
        return self.scales.num_scales

    @property
    def base(self) -> float:  # type: ignore[override]
        return self.scales.base

    def output_scales(self, num_scales: int | None) -> int:
        if num_scales is not None:
            raise ValueError(
                f"a lifting layer takes a time series (batch, channels, time), got group "
                f"features with {num_scales} scales"
            )
        return self.num_scales

    def output_length(self, length: int, num_scales: int | None = None) -> int:
        return self._length(length, self.num_scales)

    def receptive_extent(self, num_scales: int | None = None) -> int:
        left, right = self._coarsest(self.num_scales)
        return left + right + 1

    def forward(self, x: Tensor) -> Tensor:
        return WF.lifting_conv1d(
            x, self.weight, self.scales, self.bias, spline_order=self.spline_order,
            stride=self.stride, padding=self.padding, method=self.method,
        )  # fmt: skip

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"num_scales={self.num_scales}, base={self.base:g}, spline_order={self.spline_order}, "
            f"bias={self.bias is not None}, padding={self.padding!r}, stride={self.stride}, "
            f"method={self.method!r}"
        )


class GroupConv1d(_SplineConv):
    r"""Group convolution on the scale-translation group.

    .. math:: (F \star \Psi)(t, s_j) = \sum_c \sum_{m=0}^{M-1} \sum_\tau
        F_c(\tau, s_{j+m})\, \Psi^c_{s_j}(\tau - t, m),
        \qquad \Psi_s(x, m) = \frac1s \sum_k w_{k,m} B^n(x/s - k)

    The kernel spans ``M = scale_kernel_size`` neighbouring scales and ``K``
    time taps, and is dilated by ``s_j`` at output scale ``j``; so dilating the
    input (shifting its scale axis) shifts the output's scale axis.

    Shapes: ``(batch, in_channels, scales, time) -> (batch, out_channels, scales', time')``
    with ``scales' = scales - M + 1`` ("crop") or ``scales`` ("truncate").

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: spline taps ``K`` in time (1: pointwise).
        scale_kernel_size: neighbouring scales ``M`` the kernel spans (1: each scale on its own).
        base: ratio between neighbouring scales; must match the layer that made the input.
        spline_order: B-spline degree ``n``.
        scale_boundary: "crop" (exactly equivariant) or "truncate" (keeps all scales).
        bias: add a learned bias per output channel.
        padding: "same" or "valid".
        stride: time step of the output.
        method: how to compute it, "auto", "factorized", "direct" or "fft" (the values
            are the same).
        device: of the parameters.
        dtype: of the parameters.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        scale_kernel_size: int,
        base: float = 2.0,
        spline_order: int = 2,
        scale_boundary: str = "crop",
        bias: bool = False,
        padding: str = "same",
        stride: int = 1,
        *,
        method: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        for value, name in (
            (in_channels, "in_channels"),
            (out_channels, "out_channels"),
            (kernel_size, "kernel_size"),
            (scale_kernel_size, "scale_kernel_size"),
            (stride, "stride"),
        ):
            check_positive_int(value, name)
        check_base(base)
        check_order(spline_order)
        check_choice(scale_boundary, "scale_boundary", WF.SCALE_BOUNDARIES)
        check_choice(padding, "padding", WF.PADDINGS)
        check_choice(method, "method", WF.METHODS)
        if method == "factorized" and not float(base).is_integer():
            raise ValueError("method='factorized' needs an integer base")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.scale_kernel_size = scale_kernel_size
        self.base = float(base)
        self.spline_order = spline_order
        self.scale_boundary = scale_boundary
        self.padding = padding
        self.stride = stride
        self.method = method
        shape = (out_channels, in_channels, scale_kernel_size, kernel_size)
        self._init_parameters(shape, bias, device, dtype)

    def output_scales(self, num_scales: int | None) -> int:
        """Number of output scales for an input with ``num_scales`` scales."""
        if num_scales is None:
            raise ValueError(
                "a group convolution takes group features (batch, channels, scales, time): "
                "lift the time series first"
            )
        out = num_scales if self.scale_boundary == "truncate" else num_scales - self.scale_kernel_size + 1
        if out < 1:
            raise ValueError(
                f"a group convolution with scale_kernel_size={self.scale_kernel_size} needs at "
                f"least {self.scale_kernel_size} scales, got {num_scales}: use more scales in "
                f"the lifting layer"
            )
        return out

    def output_length(self, length: int, num_scales: int | None = None) -> int:
        if self.padding == "same":
            return -(-length // self.stride)
        return self._length(length, self.output_scales(num_scales))

    def receptive_extent(self, num_scales: int | None = None) -> int:
        left, right = self._coarsest(self.output_scales(num_scales))
        return left + right + 1

    def forward(self, x: Tensor) -> Tensor:
        return WF.group_conv1d(
            x, self.weight, self.base, self.bias, spline_order=self.spline_order,
            scale_boundary=self.scale_boundary, stride=self.stride, padding=self.padding,
            method=self.method,
        )  # fmt: skip

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"scale_kernel_size={self.scale_kernel_size}, base={self.base:g}, "
            f"spline_order={self.spline_order}, scale_boundary={self.scale_boundary!r}, "
            f"bias={self.bias is not None}, padding={self.padding!r}, stride={self.stride}, "
            f"method={self.method!r}"
        )


class LiftingConvMaxPool1d(Sequence):
    r"""A :class:`LiftingConv1d` followed by a :class:`~wavelet_networks.nn.TimeMaxPool`, fused.

    .. math:: p_c(t, s_j) = \max_{0 \le a < P}\ (f \star \psi^c)(P t + a, s_j)

    The same values, gradients and parameters as
    ``nn.Sequential(LiftingConv1d(...), TimeMaxPool(pool_size))`` (the two are
    its children ``conv`` and ``pool``), computed by
    :func:`~wavelet_networks.functional.lifting_conv_max_pool1d`, which on the
    CPU never materialises the stride-1 lifting output (W-M11's ``L(9, 79, 51)``
    then ``P(4)``, batch 8: 1.3 GB).

    Shapes: ``(batch, in_channels, time) -> (batch, out_channels, num_scales, time // pool_size)``.

    ``in_channels``, ``out_channels``, ``kernel_size``, ``num_scales``, ``base``,
    ``spline_order``, ``bias``, ``padding``, ``method``, ``device`` and ``dtype``
    are as for :class:`LiftingConv1d` (stride 1).

    Args:
        pool_size: ``P``, the max-pool window and stride over time.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_scales: int,
        pool_size: int,
        base: float = 2.0,
        spline_order: int = 2,
        bias: bool = False,
        padding: str = "same",
        *,
        method: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.conv = LiftingConv1d(
            in_channels, out_channels, kernel_size, num_scales, base, spline_order, bias,
            padding, method=method, device=device, dtype=dtype,
        )  # fmt: skip
        self.pool = TimeMaxPool(pool_size)

    def forward(self, x: Tensor) -> Tensor:
        conv, pool = self.conv, self.pool
        if (
            conv.stride != 1
            or conv.method not in ("auto", "factorized")
            or pool.stride != pool.kernel_size
            or pool.padding
        ):
            return pool(conv(x))
        return WF.lifting_conv_max_pool1d(
            x, conv.weight, conv.scales, pool.kernel_size, conv.bias,
            spline_order=conv.spline_order, padding=conv.padding,
        )  # fmt: skip

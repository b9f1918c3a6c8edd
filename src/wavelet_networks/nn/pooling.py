"""Pooling over time (per scale, with fixed or scale-proportional windows), over scales,
and global pooling and readouts of group features."""

from __future__ import annotations

from torch import Tensor

from wavelet_networks import functional as WF
from wavelet_networks._validation import check_choice, check_positive_int
from wavelet_networks.functional.reference import READOUT_SCALE_MODES, scale_pool_halfwidths
from wavelet_networks.grid import check_base
from wavelet_networks.nn.module import EquivariantModule

__all__ = [
    "GlobalPool",
    "ScaleMaxPool",
    "ScaleMeanPool",
    "ScaleProportionalMaxPool",
    "ScaleReadout",
    "TimeAvgPool",
    "TimeMaxPool",
]


class _TimePool(EquivariantModule):
    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0) -> None:
        super().__init__()
        check_positive_int(kernel_size, "kernel_size")
        if stride is not None:
            check_positive_int(stride, "stride")
        check_positive_int(padding, "padding", minimum=0)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def output_scales(self, num_scales: int | None) -> int | None:
        return num_scales

    def output_length(self, length: int, num_scales: int | None = None) -> int:
        return (length + 2 * self.padding - self.kernel_size) // self.stride + 1

    def receptive_extent(self, num_scales: int | None = None) -> int:
        return self.kernel_size

    @property
    def time_stride(self) -> int:
        return self.stride

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class TimeMaxPool(_TimePool):
    """Max pooling over time at every scale: ``(B, C, S, T) -> (B, C, S, T')``.

    ``T' = floor((T + 2 padding - kernel_size) / stride) + 1``; ``stride``
    defaults to ``kernel_size``.
    """

    def forward(self, x: Tensor) -> Tensor:
        return WF.time_max_pool(x, self.kernel_size, self.stride, self.padding)


class TimeAvgPool(_TimePool):
    """Average pooling over time at every scale: ``(B, C, S, T) -> (B, C, S, T')``.

    ``T'`` as :class:`TimeMaxPool`; padding is not counted in the averages.
    """

    def forward(self, x: Tensor) -> Tensor:
        return WF.time_avg_pool(x, self.kernel_size, self.stride, self.padding)


class _ScalePool(EquivariantModule):
    def output_scales(self, num_scales: int | None) -> None:
        return None

    def output_length(self, length: int, num_scales: int | None = None) -> int:
        return length

    def receptive_extent(self, num_scales: int | None = None) -> int:
        return 1


class ScaleMaxPool(_ScalePool):
    """Max over the scale axis: ``(B, C, S, T) -> (B, C, T)``, invariant to dilations."""

    def forward(self, x: Tensor) -> Tensor:
        return WF.scale_pool(x, "max")


class ScaleMeanPool(_ScalePool):
    """Mean over the scale axis: ``(B, C, S, T) -> (B, C, T)``."""

    def forward(self, x: Tensor) -> Tensor:
        return WF.scale_pool(x, "mean")


class GlobalPool(EquivariantModule):
    """Pool over time, then scales: ``(B, C, S, T) -> (B, C)``.

    The default (mean over time, max over scales) is the paper's invariant head.
    """

    def __init__(self, time: str = "mean", scale: str = "max") -> None:
        super().__init__()
        check_choice(time, "time", ("max", "mean"))
        check_choice(scale, "scale", ("max", "mean"))
        self.time = time
        self.scale = scale

    def output_scales(self, num_scales: int | None) -> None:
        return None

    def output_length(self, length: int, num_scales: int | None = None) -> int:
        return 1 if length >= 1 else 0

    def receptive_extent(self, num_scales: int | None = None) -> None:
        return None  # every time sample

    def forward(self, x: Tensor) -> Tensor:
        return WF.global_pool(x, self.time, self.scale)

    def extra_repr(self) -> str:
        return f"time={self.time!r}, scale={self.scale!r}"


class ScaleProportionalMaxPool(EquivariantModule):
    r"""Max pool over time with a window proportional to the scale (dilation-equivariant).

    .. math:: y(n, s_j) = \max_{|\tau - n r| \le h_j} x(\tau, s_j),
        \qquad h_j = \lfloor k\, \text{base}^j / 2 \rfloor

    See :func:`~wavelet_networks.functional.scale_proportional_max_pool`.
    Shapes: ``(B, C, S, T) -> (B, C, S, ceil(T / stride))``.

    Args:
        kernel_size: window ``k`` at scale 0 (``k * base**j`` at scale ``j``).
        stride: time step of the output, the same at every scale (default ``kernel_size``).
        base: the scale grid's base (of the layer that made the input).
    """

    def __init__(self, kernel_size: int, stride: int | None = None, base: float = 2.0) -> None:
        super().__init__()
        check_positive_int(kernel_size, "kernel_size")
        if stride is not None:
            check_positive_int(stride, "stride")
        check_base(base)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.base = float(base)

    def output_scales(self, num_scales: int | None) -> int | None:
        return num_scales

    def output_length(self, length: int, num_scales: int | None = None) -> int:
        return -(-length // self.stride)

    def receptive_extent(self, num_scales: int | None = None) -> int:
        """The window at the coarsest scale, ``2 h_{S-1} + 1``."""
        return 2 * scale_pool_halfwidths(num_scales or 1, self.kernel_size, self.base)[-1] + 1

    @property
    def time_stride(self) -> int:
        return self.stride

    def forward(self, x: Tensor) -> Tensor:
        return WF.scale_proportional_max_pool(x, self.kernel_size, self.stride, self.base)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, base={self.base:g}"


class ScaleReadout(EquivariantModule):
    r"""Mean over time, then a weighted pool over scales: ``(B, C, S, T) -> (B, C)``.

    .. math:: y_c = \sum_j w_j\, \frac1T \sum_t x_c(t, s_j)

    ``scale="taper"`` weights the scales with a Hann window that vanishes just
    beyond both ends of the grid, so the scale that a dilation pushes off the
    grid and the one it brings in count little; "mean" weights all alike; "max"
    is the paper's max over scales. See
    :func:`~wavelet_networks.functional.scale_readout`.
    """

    def __init__(self, scale: str = "taper") -> None:
        super().__init__()
        check_choice(scale, "scale", READOUT_SCALE_MODES)
        self.scale = scale

    def output_scales(self, num_scales: int | None) -> None:
        return None

    def output_length(self, length: int, num_scales: int | None = None) -> int:
        return 1 if length >= 1 else 0

    def receptive_extent(self, num_scales: int | None = None) -> None:
        return None  # every time sample

    def forward(self, x: Tensor) -> Tensor:
        return WF.scale_readout(x, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale!r}"

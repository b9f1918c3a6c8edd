"""Pooling over time (per scale), over scales, and global pooling of group features."""

from __future__ import annotations

from torch import Tensor

from wavelet_networks import functional as WF
from wavelet_networks._validation import check_choice, check_positive_int
from wavelet_networks.nn.module import EquivariantModule

__all__ = ["GlobalPool", "ScaleMaxPool", "ScaleMeanPool", "TimeAvgPool", "TimeMaxPool"]


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

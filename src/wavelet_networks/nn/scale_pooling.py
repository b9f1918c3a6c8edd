"""Layers that pool in proportion to scale, and scale-robust readouts (``torch.nn`` style)."""

from __future__ import annotations

from torch import Tensor, nn

from wavelet_networks._validation import check_choice, check_positive_int
from wavelet_networks.functional.scale_pooling import (
    READOUT_SCALE_MODES,
    scale_proportional_max_pool,
    scale_readout,
)
from wavelet_networks.grid import check_base

__all__ = ["ScaleProportionalMaxPool", "ScaleReadout"]


class ScaleProportionalMaxPool(nn.Module):
    r"""Max pool over time with a window proportional to the scale (dilation-equivariant).

    .. math:: y(n, s_j) = \max_{|\tau - n r| \le h_j} x(\tau, s_j),
        \qquad h_j = \lfloor k\, \text{base}^j / 2 \rfloor

    See :func:`~wavelet_networks.functional.scale_pooling.scale_proportional_max_pool`.
    Shapes: ``(B, C, S, T) -> (B, C, S, ceil(T / stride))``.

    Args:
        kernel_size: window ``k`` at scale 0 (``kernel_size * base**j`` at scale ``j``).
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

    def forward(self, x: Tensor) -> Tensor:
        return scale_proportional_max_pool(x, self.kernel_size, self.stride, self.base)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, base={self.base:g}"


class ScaleReadout(nn.Module):
    r"""Mean over time, then a weighted pool over scales: ``(B, C, S, T) -> (B, C)``.

    .. math:: y_c = \sum_j w_j\, \frac1T \sum_t x_c(t, s_j)

    ``scale="taper"`` weights the scales with a Hann window that vanishes just
    beyond both ends of the grid, so the scale that a dilation pushes off the
    grid and the one it brings in count little; "mean" weights all alike; "max"
    is the paper's max over scales. See
    :func:`~wavelet_networks.functional.scale_pooling.scale_readout`.
    """

    def __init__(self, scale: str = "taper") -> None:
        super().__init__()
        check_choice(scale, "scale", READOUT_SCALE_MODES)
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        return scale_readout(x, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale!r}"

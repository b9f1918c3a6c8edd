"""Pooling of group features over time (per scale), over scales, and globally."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from wavelet_networks._validation import check_choice, check_group

__all__ = ["global_pool", "scale_pool", "time_avg_pool", "time_max_pool"]


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

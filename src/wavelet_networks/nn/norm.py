"""Normalisation and dropout for group features that keep equivariance."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from wavelet_networks._validation import check_group

__all__ = ["ChannelDropout", "GroupBatchNorm"]


class GroupBatchNorm(nn.BatchNorm2d):
    """Batch norm with one statistic per channel, shared over scales and time.

    A per-scale statistic would rescale every scale differently and break the
    equivariance; a shared one is an affine map per channel, equivariant to
    translations and dilations. Shapes: ``(B, C, S, T) -> (B, C, S, T)``.
    """

    def forward(self, x: Tensor) -> Tensor:
        check_group(x, self.num_features)
        return super().forward(x)


class ChannelDropout(nn.Module):
    """Drop whole channels (all scales and times at once) with probability ``p``.

    The mask is constant over the group, so every sample stays equivariant.
    Shapes: ``(B, C, S, T) -> (B, C, S, T)``.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        check_group(x)
        return F.dropout2d(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"

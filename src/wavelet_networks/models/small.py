"""Two small, parameter-matched models for the embedded default data set (ACSF1).

``small-cnn`` is a plain 1D CNN; ``w-small-cnn`` is its wavelet-network twin,
built from the public :mod:`wavelet_networks.nn` layers: a lifting layer over
dyadic scales, group convolutions, batch norm over (scales, time), then the
invariant head of the paper (mean over time, max over scales). Both take
``(batch, in_channels, time)`` of any length from ``pool**2`` samples on
(``model.min_length``: the two time pools must leave one step) and return
logits ``(batch, num_classes)``. Their parameter counts (10 classes, one input
channel) differ by less than 5% (checked by the tests).
"""

from __future__ import annotations

import torch
from torch import nn

from wavelet_networks.models.registry import ModelCard, register

__all__ = ["SCALE_POOLS", "SmallCNN", "WSmallCNN"]

SCALE_POOLS = ("max", "mean", "none")
"""Heads of :class:`WSmallCNN`: max or mean over the scales left, or none (every scale read)."""

_PAPER = "this project: small default models for ACSF1 (not from the paper)"


def _check_input(x: torch.Tensor, in_channels: int, min_length: int) -> None:
    if x.dim() != 3 or x.shape[1] != in_channels:
        raise ValueError(
            f"expected input of shape (batch, {in_channels}, time), got {tuple(x.shape)}"
        )
    if x.shape[-1] < min_length:
        raise ValueError(
            f"input is too short: {x.shape[-1]} samples, the model needs at "
            f"least {min_length} (shape {tuple(x.shape)})"
        )


class SmallCNN(nn.Module):
    """Plain CNN: three conv-BN-ReLU stages with max pooling, global mean, linear head.

    Args:
        num_classes: number of logits.
        in_channels: channels of the input series.
        channels: output channels of the three conv stages.
        kernel_sizes: time taps of the three conv stages.
        pool: max-pool factor after the first two stages.
        dropout: dropout before the linear head.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        channels: tuple[int, int, int] = (32, 64, 64),
        kernel_sizes: tuple[int, int, int] = (15, 7, 3),
        pool: int = 4,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.min_length = pool * pool
        layers: list[nn.Module] = []
        c_in = in_channels
        for i, (c, k) in enumerate(zip(channels, kernel_sizes, strict=True)):
            layers += [nn.Conv1d(c_in, c, k, padding="same", bias=False), nn.BatchNorm1d(c)]
            layers.append(nn.ReLU(inplace=True))
            if i < len(channels) - 1:
                layers.append(nn.MaxPool1d(pool))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c_in, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, self.min_length)
        return self.head(self.features(x).mean(dim=-1))


class WSmallCNN(nn.Module):
    """Wavelet-network twin of :class:`SmallCNN`.

    Lifting conv over ``num_scales`` dyadic scales, then two group convs (the
    first spans ``scale_kernel_size`` scales and crops the scale axis), each
    followed by batch norm and ReLU, max pooling over time after the first two
    stages; head: mean over time, max over scales (``scale_pool="max"``, the
    paper's invariant head), linear. ``scale_pool="mean"`` averages over the
    scales instead; ``scale_pool="none"`` keeps them, the linear map reading
    channels times scales (not invariant to a dilation).

    Args:
        num_classes: number of logits.
        in_channels: channels of the input series.
        channels: output channels of the lifting and the two group layers.
        kernel_sizes: time taps of the three layers.
        num_scales: scales of the lifting layer (1, 2, ..., 2**(num_scales-1)).
        scale_kernel_size: scales spanned by the first group conv.
        pool: max-pool factor over time after the first two stages.
        dropout: dropout before the linear head.
        scale_pool: "max", "mean" or "none" (see above).
        spline_order: B-spline degree of the kernels of every layer.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        channels: tuple[int, int, int] = (22, 44, 48),
        kernel_sizes: tuple[int, int, int] = (15, 7, 3),
        num_scales: int = 4,
        scale_kernel_size: int = 3,
        pool: int = 4,
        dropout: float = 0.2,
        scale_pool: str = "max",
        spline_order: int = 2,
    ) -> None:
        super().__init__()
        from wavelet_networks import nn as wnn
        from wavelet_networks._validation import check_choice

        check_choice(scale_pool, "scale_pool", SCALE_POOLS)

        if num_scales < scale_kernel_size:
            raise ValueError(
                f"num_scales ({num_scales}) must be >= scale_kernel_size ({scale_kernel_size})"
            )
        self.in_channels = in_channels
        self.min_length = pool * pool
        c1, c2, c3 = channels
        k1, k2, k3 = kernel_sizes
        self.features = nn.Sequential(
            wnn.LiftingConv1d(in_channels, c1, k1, num_scales=num_scales,
                              spline_order=spline_order),
            wnn.GroupBatchNorm(c1),
            nn.ReLU(inplace=True),
            wnn.TimeMaxPool(pool),
            wnn.GroupConv1d(c1, c2, k2, scale_kernel_size=scale_kernel_size,
                            spline_order=spline_order),
            wnn.GroupBatchNorm(c2),
            nn.ReLU(inplace=True),
            wnn.TimeMaxPool(pool),
            wnn.GroupConv1d(c2, c3, k3, scale_kernel_size=1, spline_order=spline_order),
            wnn.GroupBatchNorm(c3),
            nn.ReLU(inplace=True),
        )
        self.scale_pool = scale_pool
        head_scales = num_scales - scale_kernel_size + 1 if scale_pool == "none" else 1
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c3 * head_scales, num_classes))

    def head_features(self, h: torch.Tensor) -> torch.Tensor:
        """What the linear head reads: ``(B, C, S, T)`` features -> ``(B, C)``
        (``(B, C * S)`` with ``scale_pool="none"``): mean over time, then ``scale_pool``."""
        m = h.mean(dim=-1)  # (batch, C, scales)
        if self.scale_pool == "max":
            return m.amax(dim=-1)
        return m.mean(dim=-1) if self.scale_pool == "mean" else m.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, self.min_length)
        return self.head(self.head_features(self.features(x)))


_COMMON = {
    "paper": _PAPER,
    "sample_rate": None,
    "input_length": 1460,
    "paper_result": None,
}


@register(
    ModelCard(
        name="small-cnn",
        family="baseline",
        twin="w-small-cnn",
        notes="default baseline of `wavelet-networks fit` on ACSF1",
        **_COMMON,
    )
)
def small_cnn(num_classes: int, in_channels: int = 1, **overrides) -> nn.Module:
    """Build :class:`SmallCNN`."""
    return SmallCNN(num_classes, in_channels, **overrides)


@register(
    ModelCard(
        name="w-small-cnn",
        family="wavelet",
        twin="small-cnn",
        notes="default wavelet network of `wavelet-networks fit` on ACSF1; head option "
        "scale_pool: 'max' (default, max over scales), 'mean', 'none' (every scale read); "
        "spline_order: B-spline degree of the kernels (default 2)",
        **_COMMON,
    )
)
def w_small_cnn(num_classes: int, in_channels: int = 1, **overrides) -> nn.Module:
    """Build :class:`WSmallCNN`."""
    return WSmallCNN(num_classes, in_channels, **overrides)

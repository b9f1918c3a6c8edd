"""Equivariant layers for functions on the scale-translation group (``torch.nn`` style)."""

from wavelet_networks.nn.conv import GroupConv1d, LiftingConv1d, LiftingConvMaxPool1d
from wavelet_networks.nn.module import EquivariantModule
from wavelet_networks.nn.nonlinear import AntiAliased, AntiAliasedReLU
from wavelet_networks.nn.norm import ChannelDropout, GroupBatchNorm
from wavelet_networks.nn.pooling import (
    GlobalPool,
    ScaleMaxPool,
    ScaleMeanPool,
    ScaleProportionalMaxPool,
    ScaleReadout,
    TimeAvgPool,
    TimeMaxPool,
)
from wavelet_networks.nn.stem import LiftingStem

__all__ = [
    "AntiAliased",
    "AntiAliasedReLU",
    "ChannelDropout",
    "EquivariantModule",
    "GlobalPool",
    "GroupBatchNorm",
    "GroupConv1d",
    "LiftingConv1d",
    "LiftingConvMaxPool1d",
    "LiftingStem",
    "ScaleMaxPool",
    "ScaleMeanPool",
    "ScaleProportionalMaxPool",
    "ScaleReadout",
    "TimeAvgPool",
    "TimeMaxPool",
]

"""The first block of the paper's W-M-nets as one module: lifting, pool, BN, ReLU, pool."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from wavelet_networks import functional as WF
from wavelet_networks.nn.conv import LiftingConv1d, LiftingConvMaxPool1d
from wavelet_networks.nn.module import Sequence
from wavelet_networks.nn.norm import GroupBatchNorm, batch_norm_args
from wavelet_networks.nn.pooling import TimeMaxPool

__all__ = ["LiftingStem"]


class LiftingStem(nn.Sequential, Sequence):
    r"""``L(S, K, C)``, ``P(P1)``, batch norm, ReLU, (dropout), ``P(P2)``, fused where it can be.

    The stem of W-M3 .. W-M34-res (``L(9, 79, C)``, ``P(4)``, BN, ReLU,
    ``P(4)``): a :class:`~torch.nn.Sequential` of
    :class:`LiftingConvMaxPool1d`, :class:`GroupBatchNorm`, ``ReLU``, an
    optional ``Dropout`` and :class:`TimeMaxPool`, with their parameters,
    buffers and results. Its forward pass runs them as one operation,
    :func:`~wavelet_networks.functional.lifting_stem`, which never passes over
    the pooled lifting output more than once (W-M11, batch 8: 324 MB), when the
    children are still of that form, the lifting has stride 1, no bias and the
    "auto"/"factorized" method, and dropout is off (``p = 0`` or evaluation);
    otherwise the children run one after the other.

    Shapes: ``(batch, in_channels, time) -> (batch, out_channels, num_scales, time // (P1 P2))``
    (``padding="same"``).

    ``in_channels``, ``out_channels``, ``kernel_size``, ``num_scales``, ``base``,
    ``spline_order``, ``padding`` and ``method`` are as for :class:`LiftingConv1d`
    (stride 1, no bias); ``eps`` and ``momentum`` as for :class:`GroupBatchNorm`.

    Args:
        pool_sizes: ``(P1, P2)``, the max pools before and after the batch norm.
        dropout: elementwise dropout after the ReLU (0: none).
        device: of the parameters and buffers.
        dtype: of the parameters and buffers.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_scales: int,
        pool_sizes: tuple[int, int] = (4, 4),
        base: float = 2.0,
        spline_order: int = 2,
        padding: str = "same",
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        dropout: float = 0.0,
        *,
        method: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if len(pool_sizes) != 2:
            raise ValueError(f"pool_sizes must be two pool sizes (P1, P2), got {pool_sizes!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        layers: list[nn.Module] = [
            LiftingConvMaxPool1d(
                in_channels, out_channels, kernel_size, num_scales, pool_sizes[0], base,
                spline_order, bias=False, padding=padding, method=method, device=device,
                dtype=dtype,
            ),
            GroupBatchNorm(out_channels, eps=eps, momentum=momentum, device=device, dtype=dtype),
            nn.ReLU(inplace=True),
        ]  # fmt: skip
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(TimeMaxPool(pool_sizes[1]))
        super().__init__(*layers)

    def _fusable(self) -> bool:
        lift, bn, relu, *rest = list(self)
        if not (isinstance(lift, LiftingConvMaxPool1d) and isinstance(bn, nn.BatchNorm2d)):
            return False
        conv: LiftingConv1d = lift.conv
        drop = rest[:-1]
        pool = rest[-1] if rest else None
        return (
            type(relu) is nn.ReLU
            and isinstance(pool, TimeMaxPool)
            and lift.pool.stride == lift.pool.kernel_size
            and lift.pool.padding == 0
            and pool.stride == pool.kernel_size
            and pool.padding == 0
            and conv.stride == 1
            and conv.bias is None
            and conv.method in ("auto", "factorized")
            and all(isinstance(d, nn.Dropout) and (d.p == 0 or not self.training) for d in drop)
            and len(drop) <= 1
        )

    def forward(self, x: Tensor) -> Tensor:
        if not self._fusable():
            return super().forward(x)
        lift, bn, pool = self[0], self[1], self[-1]
        mean, var, use_batch, momentum = batch_norm_args(bn)
        conv = lift.conv
        return WF.lifting_stem(
            x, conv.weight, conv.scales, (lift.pool.kernel_size, pool.kernel_size), mean, var,
            bn.weight, bn.bias, use_batch, momentum, bn.eps, spline_order=conv.spline_order,
            padding=conv.padding,
        )  # fmt: skip

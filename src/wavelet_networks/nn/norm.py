"""Normalisation and dropout for group features that keep equivariance."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from wavelet_networks import functional as WF
from wavelet_networks._validation import check_group
from wavelet_networks.nn.module import Pointwise
from wavelet_networks.nn.pooling import TimeMaxPool

__all__ = ["ChannelDropout", "GroupBatchNorm", "batch_norm_args", "run_fused"]


class GroupBatchNorm(nn.BatchNorm2d, Pointwise):
    """Batch norm with one statistic per channel, shared over scales and time.

    A per-scale statistic would rescale every scale differently and break the
    equivariance; a shared one is an affine map per channel, equivariant to
    translations and dilations. Shapes: ``(B, C, S, T) -> (B, C, S, T)``.
    """

    def forward(self, x: Tensor) -> Tensor:
        check_group(x, self.num_features)
        return super().forward(x)


class ChannelDropout(Pointwise):
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


def batch_norm_args(bn: nn.modules.batchnorm._BatchNorm) -> tuple:
    """``(running_mean, running_var, use_batch_stats, momentum)`` as ``bn.forward`` would use them.

    The bookkeeping of :class:`torch.nn.modules.batchnorm._BatchNorm`
    (``num_batches_tracked``, ``momentum=None`` as a cumulative average), for
    fused operations that run the batch norm inside another computation.
    """
    momentum = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        if bn.momentum is None:
            momentum = 1.0 / float(bn.num_batches_tracked)
    track = not bn.training or bn.track_running_stats
    use_batch = bn.training or bn.running_mean is None
    mean, var = (bn.running_mean, bn.running_var) if track else (None, None)
    return mean, var, use_batch, momentum


def _hooked(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks or module._backward_hooks)


def run_fused(layers: Sequence[nn.Module], x: Tensor) -> Tensor:
    """``layers`` applied in turn, every ``GroupBatchNorm``, ``ReLU``, ``TimeMaxPool``
    in a row as one :func:`~wavelet_networks.functional.batch_norm_relu_pool`.

    Values, gradients and running statistics are those of the layers one after
    the other (tested); a triple with hooks, overlapping or padded windows or
    another kind of module in between runs as it is.
    """
    i = 0
    while i < len(layers):
        bn, relu, pool = [*list(layers[i : i + 3]), None, None][:3]
        if (
            isinstance(bn, GroupBatchNorm)
            and type(relu) is nn.ReLU
            and isinstance(pool, TimeMaxPool)
            and pool.stride == pool.kernel_size
            and pool.padding == 0
            and not any(_hooked(m) for m in (bn, relu, pool))
        ):
            check_group(x, bn.num_features)
            mean, var, use_batch, momentum = batch_norm_args(bn)
            x = WF.batch_norm_relu_pool(
                x, mean, var, bn.weight, bn.bias, use_batch, momentum, bn.eps, pool.kernel_size
            )
            i += 3
            continue
        x = layers[i](x)
        i += 1
    return x

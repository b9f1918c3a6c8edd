r"""The batch-norm algebra shared by the fused layers that pool before the affine map.

:mod:`~wavelet_networks.functional.fast.stem` and
:mod:`~wavelet_networks.functional.fast.norm_pool` both take a max over time of
``relu(bn(m))`` as ``relu(bn(sign * max(sign * m)))`` and need, backward, the
gradient at ``m`` as an affine function of ``m`` per channel plus a sparse term
where the pool took its maximum:

.. math:: \frac{\partial L}{\partial m} = \mathrm{coef}_c\, G + \mathrm{slope}_c\, m
    + \mathrm{offset}_c,

``G`` the gradient at the pooled output (after the ReLU's mask), with
:math:`\mathrm{coef} = \gamma/\sigma`, :math:`\mathrm{slope} = -\mathrm{coef}\,
\overline{G \hat m} / \sigma` and :math:`\mathrm{offset} = -\mathrm{coef}\,
\overline{G} - \mathrm{slope}\,\mu` (means over the ``count`` values of a channel;
slope and offset vanish for running statistics).
"""

from __future__ import annotations

import torch
from torch import Tensor


def gamma_sign(gamma: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """``(C,)``: -1 where ``gamma < 0``, else 1; ``None`` when no ``gamma`` is negative."""
    if gamma is None or not bool((gamma < 0).any()):
        return None
    return torch.where(gamma < 0, -1.0, 1.0).to(dtype)


def unbiased(var: Tensor, count: int) -> Tensor:
    """The unbiased variance of ``count`` values whose biased one is ``var``."""
    return var * count / max(count - 1, 1)


def update_running_stats(
    training: bool,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    mean: Tensor,
    unbiased_var: Tensor,
    momentum: float,
) -> None:
    """As batch norm: move the running statistics towards the batch's (the unbiased variance)."""
    if training and running_mean is not None and running_var is not None:
        with torch.no_grad():
            running_mean.lerp_(mean, momentum)
            running_var.lerp_(unbiased_var, momentum)


def affine_relu(
    pooled: Tensor, mean: Tensor, var: Tensor, gamma: Tensor | None, beta: Tensor | None,
    eps: float,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """``(relu(bn(pooled)), invstd)``: the batch norm's affine map and the ReLU on the
    pooled values ``(B, C, S, n)``, with the statistics ``mean``, ``var`` ``(C,)``."""
    invstd = torch.rsqrt(var + eps)
    scale = invstd if gamma is None else gamma * invstd
    shift = -mean * scale if beta is None else beta - mean * scale
    y = torch.addcmul(shift[:, None, None], pooled, scale[:, None, None]).clamp_min_(0)
    return y, invstd


def pooled_gradient(
    g: Tensor,
    pooled: Tensor,
    mean: Tensor,
    invstd: Tensor,
    gamma: Tensor | None,
    count: int,
    use_batch: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor | None]:
    """``(dgamma, dbeta, coef, slope, offset)``, each ``(C,)`` (slope, offset ``None``
    for running statistics), from ``g`` the gradient at the pooled values ``pooled``
    ``(B, C, S, n)`` (zero where the ReLU did not pass)."""
    dbeta = g.sum(dim=(0, 2, 3))
    dgamma = ((g * pooled).sum(dim=(0, 2, 3)) - mean * dbeta) * invstd
    coef = invstd if gamma is None else gamma * invstd
    if not use_batch:
        return dgamma, dbeta, coef, None, None
    slope = -coef * invstd * dgamma / count
    offset = -coef * dbeta / count - slope * mean
    return dgamma, dbeta, coef, slope, offset

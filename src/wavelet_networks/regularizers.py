"""The wavelet (admissibility) regulariser."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from wavelet_networks.nn.conv import GroupConv1d, LiftingConv1d

__all__ = ["wavelet_loss"]


def wavelet_loss(model: nn.Module) -> Tensor:
    r"""Admissibility regulariser: push every learned kernel towards zero mean.

    .. math:: \mathcal L = \sum_{\text{layers}} \operatorname{mean}_{o,i}
        \Big(\sum_{m,k} w_{o,i,m,k}\Big)^2

    A kernel ``psi = sum_k w_k B^n(x - k)`` integrates to ``sum_k w_k``, so the
    loss vanishes exactly for zero-mean (admissible, wavelet-like) kernels.
    Every :class:`LiftingConv1d` and :class:`GroupConv1d` with more than one time
    tap contributes the mean over its kernels of the squared sum of the kernel's
    weights over time (and scale).

    Returns:
        A scalar on the device of the model's parameters (0 if it has no such layer).
    """
    terms = [
        m.weight.flatten(2).sum(-1).pow(2).mean()
        for m in model.modules()
        if isinstance(m, (LiftingConv1d, GroupConv1d)) and m.kernel_size > 1
    ]
    if not terms:
        p = next(model.parameters(), None)
        return torch.zeros((), device=None if p is None else p.device)
    return torch.stack(terms).sum()

r"""Functional scale-translation convolutions, pooling, anti-aliased nonlinearities.

Every operation here is defined by its reference in
:mod:`~wavelet_networks.functional.reference` (the mathematics in plain
torch: read that module next to the paper) and computed by the first faster
implementation of :mod:`~wavelet_networks.functional.fast` that applies
(values and gradients equal up to float rounding), else by the reference.
:func:`wavelet_networks.reference_mode` runs everything on the reference;
:func:`implementations` lists the fast ones.

Conventions: time series are ``(batch, channels, time)``, functions on the
scale-translation group are ``(batch, channels, scales, time)``; scale ``j``
is ``s_j = base**j``. A kernel of ``K`` taps is the spline

.. math:: \psi(x) = \sum_{k} w_k B^n(x - k), \quad k = -\lfloor K/2 \rfloor, \dots, K - 1 - \lfloor K/2 \rfloor

and at scale ``s`` it is :math:`\psi_s(x) = \frac1s \psi(x/s)`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from wavelet_networks.functional import fast  # noqa: F401 (registers the fast paths)
from wavelet_networks.functional.operations import (
    OPERATIONS,
    antialiased_activation,
    batch_norm_relu_pool,
    global_pool,
    group_conv1d,
    lifting_conv1d,
    lifting_conv_max_pool1d,
    lifting_stem,
    scale_pool,
    scale_proportional_max_pool,
    scale_readout,
    time_avg_pool,
    time_max_pool,
)
from wavelet_networks.functional.reference import (
    DEFAULT_BETA,
    METHODS,
    PADDINGS,
    READOUT_SCALE_MODES,
    SCALE_BOUNDARIES,
    default_taps,
    kernel_extent,
    lowpass_filter,
    scale_pool_halfwidths,
    scale_readout_weights,
    smooth,
    spline_kernel,
)

__all__ = [
    "DEFAULT_BETA",
    "METHODS",
    "OPERATIONS",
    "PADDINGS",
    "READOUT_SCALE_MODES",
    "SCALE_BOUNDARIES",
    "antialiased_activation",
    "antialiased_relu",
    "batch_norm_relu_pool",
    "default_taps",
    "global_pool",
    "group_conv1d",
    "implementations",
    "kernel_extent",
    "lifting_conv1d",
    "lifting_conv_max_pool1d",
    "lifting_stem",
    "lowpass_filter",
    "scale_pool",
    "scale_pool_halfwidths",
    "scale_proportional_max_pool",
    "scale_readout",
    "scale_readout_weights",
    "smooth",
    "spline_kernel",
    "time_avg_pool",
    "time_max_pool",
]


def antialiased_relu(
    x: Tensor, oversample: int = 2, taps: int | None = None, beta: float = DEFAULT_BETA
) -> Tensor:
    """:func:`antialiased_activation` with ``torch.relu``: ``(..., time) -> (..., time)``."""
    return antialiased_activation(x, torch.relu, oversample, taps, beta)


def implementations() -> dict[str, list[str]]:
    """Per operation, the names of its fast implementations in the order they are tried.

    ``"operation:implementation"`` turns one off
    (``wavelet_networks.configure(disabled={...})``).
    """
    return {name: [impl.name for impl in op.implementations] for name, op in OPERATIONS.items()}

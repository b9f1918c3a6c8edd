"""Anti-aliased pointwise nonlinearities: thin wrappers of :mod:`wavelet_networks.functional`."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from wavelet_networks.functional import (
    DEFAULT_BETA,
    antialiased_activation,
    default_taps,
    lowpass_filter,
)
from wavelet_networks.nn.module import EquivariantModule

__all__ = ["AntiAliased", "AntiAliasedReLU"]


class AntiAliased(EquivariantModule):
    """A pointwise ``activation`` applied at ``oversample`` times the sample rate.

    See :func:`~wavelet_networks.functional.antialiased_activation`: upsample
    time with a Kaiser-windowed sinc, apply the activation, low-pass and
    decimate. Shapes: ``(..., time) -> (..., time)``, e.g. ``(B, C, T)`` or
    ``(B, C, S, T)``. Reduces the aliasing that makes a plain pointwise
    nonlinearity the main source of dilation-equivariance error at fine scales;
    stays exactly translation equivariant for integer shifts.
    """

    def __init__(
        self,
        activation: Callable[[Tensor], Tensor],
        oversample: int = 2,
        taps: int | None = None,
        beta: float = DEFAULT_BETA,
    ) -> None:
        super().__init__()
        taps = default_taps(oversample) if isinstance(oversample, int) and taps is None else taps
        lowpass_filter(oversample, taps, beta)  # validates the arguments at construction, not at the first call
        self.activation = activation
        self.oversample = oversample
        self.taps = taps
        self.beta = float(beta)

    def output_scales(self, num_scales: int | None) -> int | None:
        return num_scales

    def output_length(self, length: int, num_scales: int | None = None) -> int:
        return length

    def receptive_extent(self, num_scales: int | None = None) -> int:
        # interpolation and decimation each reach (taps - 1) / 2 oversampled samples
        return 2 * ((self.taps - 1) // self.oversample) + 1

    def forward(self, x: Tensor) -> Tensor:
        return antialiased_activation(x, self.activation, self.oversample, self.taps, self.beta)

    def extra_repr(self) -> str:
        name = getattr(self.activation, "__name__", repr(self.activation))
        return f"{name}, oversample={self.oversample}, taps={self.taps}, beta={self.beta}"


class AntiAliasedReLU(AntiAliased):
    """:class:`AntiAliased` ReLU: ``(..., time) -> (..., time)``.

    Use it where dilation equivariance at the finest scales matters; the
    paper's networks (and this library's models) use a plain ``nn.ReLU``.
    """

    def __init__(
        self, oversample: int = 2, taps: int | None = None, beta: float = DEFAULT_BETA
    ) -> None:
        super().__init__(torch.relu, oversample, taps, beta)

    def extra_repr(self) -> str:
        return f"oversample={self.oversample}, taps={self.taps}, beta={self.beta}"

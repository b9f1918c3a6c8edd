r"""The anti-aliased activation in polyphase form: no zero-stuffed signal is ever made.

:func:`~wavelet_networks.functional.reference.antialiased_activation`
interpolates a zero-stuffed copy of the signal ``L`` times longer. Phase 0 of
the interpolated signal is the input itself (the interpolation filter's
branch 0 is a unit impulse) and phase ``p > 0`` is a short correlation of the
input; the decimation filter reads every phase with ``2Q + 1`` taps. So the
activation acts on ``L`` signals of the input's length, made and summed by two
depthwise convolutions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from wavelet_networks.functional.reference import DEFAULT_BETA, default_taps, lowpass_filter

__all__ = ["antialiased_activation", "applies"]


@functools.lru_cache(maxsize=32)
def _polyphase(oversample: int, taps: int, beta: float) -> tuple[Tensor, Tensor, float]:
    r"""Polyphase form of the filters, for :func:`antialiased_activation`.

    With ``c = (taps - 1) / 2`` the centre and ``Q = ceil(c / L)``, oversampled time
    ``L k + p`` is phase ``p`` at input time ``k``. Phase 0 of the interpolation is
    the input itself; phase ``p > 0`` is a correlation with
    ``a_p[i] = h[L (Q - i) + p + c]``. Decimation reads phase 0 with the single
    tap ``g[c]`` (``g`` vanishes at the other multiples of ``L``) and phase
    ``p > 0`` with ``b_p[i] = g[L (i - Q) + p + c]``, ``i = 0 .. 2Q``.
    """
    up, down = lowpass_filter(oversample, taps, beta)
    c = (taps - 1) // 2
    q = -(-c // oversample)
    a = torch.zeros(oversample - 1, 1, 2 * q + 1, dtype=torch.float64)
    b = torch.zeros(1, oversample - 1, 2 * q + 1, dtype=torch.float64)
    for p in range(1, oversample):
        for i in range(2 * q + 1):
            m_up = oversample * (q - i) + p + c
            m_down = oversample * (i - q) + p + c
            if 0 <= m_up < taps:
                a[p - 1, 0, i] = up[m_up]
            if 0 <= m_down < taps:
                b[0, p - 1, i] = down[m_down]
    return a, b, down[c].item()


def applies(x: Tensor, activation: Callable[[Tensor], Tensor] = torch.relu,
            oversample: int = 2, taps: int | None = None,
            beta: float = DEFAULT_BETA) -> bool:  # fmt: skip
    """Any oversampling above 1 of a non-empty input."""
    return oversample > 1 and x.numel() > 0


def antialiased_activation(x: Tensor, activation: Callable[[Tensor], Tensor] = torch.relu,
                           oversample: int = 2, taps: int | None = None,
                           beta: float = DEFAULT_BETA) -> Tensor:  # fmt: skip
    """:func:`~wavelet_networks.functional.reference.antialiased_activation` in polyphase form."""
    taps = default_taps(oversample) if taps is None else taps
    a, b, g0 = _polyphase(oversample, taps, float(beta))
    a, b = a.to(device=x.device, dtype=x.dtype), b.to(device=x.device, dtype=x.dtype)
    lead, time = x.shape[:-1], x.shape[-1]
    rows = x.reshape(1, -1, time)  # every row a channel of a depthwise (grouped) conv
    n = rows.shape[1]
    q = (a.shape[-1] - 1) // 2
    # Polyphase, without interleaving: phase 0 of the upsampled signal is x itself,
    # phases 1 .. L-1 are the outputs of one depthwise convolution; the activation
    # acts on every phase and the decimation filter sums them back ("same", zero
    # padding). On CPU a grouped conv over rows is several times faster than a
    # one-channel conv over a batch of rows.
    phases = activation(F.conv1d(rows, a.repeat(n, 1, 1), padding=q, groups=n))
    y = F.conv1d(phases, b.repeat(n, 1, 1), padding=q, groups=n).add_(activation(rows), alpha=g0)
    return y.reshape(*lead, time)

r"""Anti-aliased pointwise nonlinearities (upsample, apply, low-pass, decimate).

A pointwise nonlinearity :math:`\sigma` applied to a sampled signal creates
frequencies above the Nyquist frequency (a ReLU's kink decays only like
:math:`1/f^2`) that fold back onto the band the signal can hold. The folded
energy is what breaks dilation equivariance at fine scales: a stretched copy of
the input is sampled relatively more finely and resolves those harmonics
instead of folding them. As in alias-free networks (Karras et al. 2021) and
scale-equivariant Fourier layers (Rahman & Yeh 2023), :func:`antialiased_activation`
approximates the continuous-time operation

.. math:: y = \bigl(h_{\mathrm{lp}} * \sigma(\tilde x)\bigr)\big|_{t \in \mathbb{Z}}

where :math:`\tilde x` is the band-limited interpolation of the samples:
upsample by an integer factor ``L`` with a Kaiser-windowed sinc, apply
:math:`\sigma` at the ``L``-times higher rate, low-pass to the original
Nyquist frequency with the same windowed sinc and keep every ``L``-th sample.
Harmonics between the old and the new Nyquist frequency are removed instead of
folded; only those above ``(2L - 1)`` times the old Nyquist frequency still
alias.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["antialiased_activation", "antialiased_relu", "default_taps", "lowpass_filter"]

#: Half-width of the default filters, in input samples (zero crossings of the sinc per side).
DEFAULT_HALF_WIDTH = 4
#: Kaiser window shape of the default filters (about 60 dB stopband attenuation).
DEFAULT_BETA = 6.0


def default_taps(oversample: int) -> int:
    """Default filter length at the oversampled rate: ``8 * oversample + 1`` (4 input samples per side)."""
    return 2 * DEFAULT_HALF_WIDTH * oversample + 1


def _check_args(oversample: int, taps: int, beta: float) -> None:
    if isinstance(oversample, bool) or not isinstance(oversample, int) or oversample < 1:
        raise ValueError(f"oversample must be an integer >= 1, got {oversample!r}")
    minimum = 2 * oversample + 1
    if isinstance(taps, bool) or not isinstance(taps, int) or taps < minimum or taps % 2 == 0:
        raise ValueError(
            f"taps must be an odd integer >= 2 * oversample + 1 = {minimum} (a centred "
            f"filter spanning at least one input sample per side), got {taps!r}"
        )
    if not (isinstance(beta, (int, float)) and not isinstance(beta, bool) and beta >= 0):
        raise ValueError(f"beta (the Kaiser window shape) must be a number >= 0, got {beta!r}")


@functools.lru_cache(maxsize=32)
def _filters(oversample: int, taps: int, beta: float) -> tuple[Tensor, Tensor]:
    m = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
    window = torch.kaiser_window(taps, periodic=False, beta=float(beta), dtype=torch.float64)
    h = torch.sinc(m / oversample) * window
    # Interpolation: every polyphase branch sums to one, so a constant stays exactly
    # constant; branch 0 is a unit impulse (the sinc vanishes at the other multiples of L).
    up = h.clone()
    for p in range(oversample):
        up[p::oversample] /= up[p::oversample].sum()
    return up, h / h.sum()


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
    up, down = _filters(oversample, taps, beta)
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


def lowpass_filter(
    oversample: int,
    taps: int | None = None,
    beta: float = DEFAULT_BETA,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    r"""The two symmetric ``(taps,)`` filters of :func:`antialiased_activation`.

    Both are the Kaiser-windowed sinc :math:`h[m] = \mathrm{sinc}(m/L)\, w_\beta[m]`,
    ``m = -(taps-1)/2 .. (taps-1)/2``, with cutoff at the input's Nyquist frequency
    (``1/L`` of the oversampled one). The interpolation filter has its ``L``
    polyphase branches normalised to sum to one (DC gain ``L``); the decimation
    filter sums to one.

    Returns:
        ``(interpolation, decimation)``.
    """
    taps = default_taps(oversample) if taps is None else taps
    _check_args(oversample, taps, beta)
    up, down = _filters(oversample, taps, float(beta))  # cached: hand out copies
    return (
        up.to(device=device, dtype=dtype, copy=True),
        down.to(device=device, dtype=dtype, copy=True),
    )


def antialiased_activation(
    x: Tensor,
    activation: Callable[[Tensor], Tensor] = torch.relu,
    oversample: int = 2,
    taps: int | None = None,
    beta: float = DEFAULT_BETA,
) -> Tensor:
    r"""Apply a pointwise ``activation`` along time at ``oversample`` times the sample rate.

    .. math:: y[n] = \sum_m g[m - Ln]\; \sigma\Bigl(\sum_k x[k]\, h[m - Lk]\Bigr)

    with ``L = oversample``, ``h`` the interpolation and ``g`` the decimation
    filter of :func:`lowpass_filter` (symmetric, centred) and :math:`\sigma` the
    activation. Time is the last axis; every other axis is a batch axis, so
    the same call serves time series and group features.

    Shapes: ``(..., time) -> (..., time)``, e.g.
    ``(batch, channels, time) -> (batch, channels, time)`` and
    ``(batch, channels, scales, time) -> (batch, channels, scales, time)``.
    The output keeps the input's length ("same"), dtype and device; outside
    ``[0, time)`` the signal is zero, as with the convolutions' zero padding.

    Integer shifts of the input shift the output by the same amount (exactly,
    away from the borders): the upsampled grid contains the input grid and the
    output keeps its phase. Dilation equivariance improves because harmonics
    between the input's Nyquist frequency and ``2L - 1`` times it are removed
    rather than folded back (up to the filters' transition band). ``oversample=1`` is the plain ``activation(x)``.

    Defaults, chosen by measurement (``benchmarks/equivariance.py`` and the
    README, "Measured equivariance": lifting + anti-aliased ReLU + group conv,
    float64 input band-limited to a quarter of Nyquist, dilated by 2):
    ``oversample=2`` cuts the per-scale error by a factor of 3.5 to 4 at every
    scale (the third scale: 2.2e-3 with a plain ReLU, 5.8e-4); 4 gains another
    factor of 1.5 to 2.5 at twice the cost. The filters span 4 input
    samples per side (``taps = 8 L + 1``) with a Kaiser ``beta=6`` (about 60 dB
    stopband): longer filters (8 or 16 samples per side) approximate the ideal
    band-limited activation a little better but do not lower the dilation
    error (at the finest scale it measures higher: 4e-3 to 5e-3 instead of
    3e-3) and cost more; ``beta`` of 4 leaks too much of the stopband, and 2
    samples per side are too short for the default ``beta``.

    Args:
        x: a floating-point tensor ``(..., time)`` with at least one dimension.
        activation: pointwise function (default ``torch.relu``).
        oversample: integer factor ``L >= 1``.
        taps: filter length at the oversampled rate, odd and
            ``>= 2 L + 1`` (default ``8 L + 1``).
        beta: shape of the Kaiser window (larger: more stopband
            attenuation, wider transition band).
    """
    taps = default_taps(oversample) if taps is None else taps
    _check_args(oversample, taps, beta)
    if not isinstance(x, Tensor):
        raise TypeError(f"input must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 1:
        raise ValueError(
            "input must have at least 1 dimension (..., time), got a 0-dimensional tensor"
        )
    if not x.is_floating_point():
        raise ValueError(f"input must be a floating-point tensor, got dtype {x.dtype}")
    if x.shape[-1] < 1:
        raise ValueError(f"input must have at least 1 time sample, got shape {tuple(x.shape)}")
    if oversample == 1 or x.numel() == 0:
        return activation(x)
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


def antialiased_relu(
    x: Tensor, oversample: int = 2, taps: int | None = None, beta: float = DEFAULT_BETA
) -> Tensor:
    """:func:`antialiased_activation` with ``torch.relu``: ``(..., time) -> (..., time)``."""
    return antialiased_activation(x, torch.relu, oversample, taps, beta)

r"""B-spline smoothing at all integer-base scales with the "a trous" cascade.

The factorised convolution at integer scale ``s`` first smooths with
``h_s[m] = B^n(m/s)/s`` (``(n+1)s + 1`` taps,
:func:`~wavelet_networks.functional.reference.smooth`). For an integer base ``b`` the
``b``-scale relation of the B-spline,

.. math::
    B^n(x/b) = \sum_{i=0}^{(b-1)(n+1)} a_i\, B^n(x - i + o), \qquad
    \sum_i a_i z^i = b^{-n} (1 + z + \dots + z^{b-1})^{n+1},\quad o = (n+1)(b-1)/2,

gives :math:`h_{bs} = h_s * g_s` (a convolution), where ``g_s`` has the
``(b-1)(n+1)+1`` taps ``a_i / b`` at the positions ``(i - o) s``: smoothing at
scale ``bs`` is the smoothing at scale ``s`` followed by a short filter dilated
by ``s``. The positions are integers unless ``o`` is a half-integer and ``s``
odd (even base, even order, ``s = 1``); the cascade then starts at ``s = b``,
whose filter is applied directly.

Lengths follow "valid" convolutions: a signal that lives on times
``[t0, t0 + L)`` smoothed at scale ``s`` lives on ``[t0 + R_s, t0 + L - R_s)``,
``R_s = floor((n+1) s / 2)`` the filter's radius.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from wavelet_networks.functional.fast import _native
from wavelet_networks.splines import sampled_bspline

__all__ = [
    "cascade_filter",
    "cascade_steps",
    "level_rows",
    "scale_relation",
    "smooth_adjoint",
    "smooth_to",
    "smooth_to_adjoint",
    "smoothed_levels",
]


def scale_relation(base: int, order: int) -> tuple[list[float], float]:
    """Coefficients ``g_i = a_i / b`` and offset ``o`` of the ``b``-scale relation.

    ``h_{b s}[m] = sum_i g_i h_s[m - (i - o) s]``; the ``g_i`` sum to one.
    """
    poly = [1.0]
    for _ in range(order + 1):
        new = [0.0] * (len(poly) + base - 1)
        for i, c in enumerate(poly):
            for j in range(base):
                new[i + j] += c
        poly = new
    norm = float(base) ** (order + 1)
    return [c / norm for c in poly], (order + 1) * (base - 1) / 2


def radius(scale: int, order: int) -> int:
    """Radius ``floor((n+1) s / 2)`` of the smoothing filter ``h_s``."""
    return ((order + 1) * scale) // 2


def _needs_direct_start(base: int, order: int) -> bool:
    # half-integer offset o at s = 1: the relation would need half-sample shifts
    return ((order + 1) * (base - 1)) % 2 == 1


def _shifted_sum(x: Tensor, taps: list[float], dilation: int, out_len: int) -> Tensor:
    if _native.smoothable(x):  # one pass instead of one per tap
        return _native.smooth(x, taps, dilation, out_len)
    out = None
    for i, c in enumerate(taps):
        if c != 0.0:
            piece = x[..., i * dilation : i * dilation + out_len]
            out = piece * c if out is None else out.add_(piece, alpha=c)
    assert out is not None
    return out


class _Smooth(torch.autograd.Function):
    """Valid correlation with a few scalar taps; its adjoint scatters into one zeroed buffer."""

    @staticmethod
    def forward(x: Tensor, taps: list[float], dilation: int) -> Tensor:  # type: ignore[override]
        out_len = x.shape[-1] - (len(taps) - 1) * dilation
        return _shifted_sum(x, taps, dilation, out_len)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        x, taps, dilation = inputs
        ctx.taps, ctx.dilation, ctx.length = taps, dilation, x.shape[-1]

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        out_len = grad.shape[-1]
        if _native.smoothable(grad):
            gx = grad.new_empty((*grad.shape[:-1], ctx.length))
            _native.smooth_adjoint(grad, ctx.taps, ctx.dilation, gx, zero=True)
            return gx, None, None
        gx = grad.new_zeros((*grad.shape[:-1], ctx.length))
        for i, c in enumerate(ctx.taps):
            if c != 0.0:
                gx[..., i * ctx.dilation : i * ctx.dilation + out_len].add_(grad, alpha=c)
        return gx, None, None


def _smooth(x: Tensor, taps: list[float], dilation: int) -> Tensor:
    """Valid correlation of every row of ``(..., L)`` with ``taps`` dilated by ``dilation``.

    A weighted sum of shifted slices: for a few taps on many rows this is an
    order of magnitude faster than a one-channel ``conv1d`` (forward and
    backward); the custom backward avoids one zero-filled buffer per tap.
    """
    return _Smooth.apply(x, taps, dilation)


def cascade_steps(base: int, order: int, levels: int) -> list[tuple[bool, list[float], int]]:
    """How :func:`smoothed_levels` makes each level: ``(from_input, taps, dilation)``.

    Level ``j`` is the valid correlation of its source with ``taps`` dilated by
    ``dilation``; the source is the input (``from_input``) or level ``j - 1``.
    Empty ``taps`` mean the level is its source (order 0 at scale 1).
    """
    g, _ = scale_relation(base, order)
    steps = []
    scale = 1
    for j in range(levels):
        if j == 0 or (j == 1 and _needs_direct_start(base, order)):
            h = sampled_bspline(scale, order, dtype=torch.float64).tolist()
            steps.append((True, h if len(h) > 1 else [], 1))
        else:
            steps.append((False, g, scale // base))
        scale *= base
    return steps


def chain(base: int, order: int, level: int) -> list[tuple[list[float], int]]:
    """The steps ``(taps, dilation)`` that make level ``level`` of the cascade from its input.

    The steps of :func:`cascade_steps` from the last one made from the input up
    to ``level`` (empty taps, the identity, left out).
    """
    steps = cascade_steps(base, order, level + 1)
    start = max(j for j, (from_input, _, _) in enumerate(steps) if from_input)
    return [(h, dilation) for _, h, dilation in steps[start:] if h]


def smooth_to(x: Tensor, base: int, order: int, level: int) -> Tensor:
    """``x`` ``(..., L)`` smoothed at scale ``base**level`` ("valid": ``L - 2 R``, see :func:`radius`).

    The cascade for one scale alone: a few taps per step, no level kept.
    """
    for h, dilation in chain(base, order, level):
        x = _shifted_sum(x, h, dilation, x.shape[-1] - (len(h) - 1) * dilation)
    return x


def smooth_adjoint(
    target: Tensor, grad: Tensor, taps: list[float], dilation: int, zero: bool = False
) -> None:
    """``target += `` the adjoint of the valid correlation with ``taps`` applied to ``grad``.

    No taps: the identity. ``zero``: set ``target`` to it instead (every time of
    it; its old values are not read).
    """
    n = grad.shape[-1]
    if any(taps) and _native.smoothable(target):  # one pass instead of one per tap
        _native.smooth_adjoint(grad, taps, dilation, target, zero=zero)
        return
    if zero:
        target.zero_()
    if not taps:
        target[..., :n] += grad
    for i, c in enumerate(taps):
        if c != 0.0:
            target[..., i * dilation : i * dilation + n].add_(grad, alpha=c)


def smooth_to_adjoint(grad: Tensor, base: int, order: int, level: int) -> Tensor:
    """The adjoint of :func:`smooth_to`: ``(..., L - 2 R) -> (..., L)``."""
    for h, dilation in reversed(chain(base, order, level)):
        out = grad.new_empty((*grad.shape[:-1], grad.shape[-1] + (len(h) - 1) * dilation))
        smooth_adjoint(out, grad, h, dilation, zero=True)
        grad = out
    return grad


def level_rows(base: int, order: int, levels: int, rows: int, drop: int, keep: int) -> list[int]:
    """Rows of axis ``-2`` in each level of :func:`smoothed_levels` with ``keep``.

    A level that no later level is made from needs only the ``keep`` rows its
    caller reads; the others hold every row from ``j * drop`` on.
    """
    steps = cascade_steps(base, order, levels)
    sources = [j + 1 < levels and not steps[j + 1][0] for j in range(levels)]
    return [rows - j * drop if feeds else min(keep, rows - j * drop) for j, feeds in enumerate(sources)]


def smoothed_levels(
    x: Tensor, base: int, order: int, levels: int, drop: int = 0, keep: int | None = None
) -> Iterator[Tensor]:
    """Yield ``x`` smoothed at the scales ``1, b, b^2, ...`` (``levels`` of them).

    Args:
        x: ``(..., L)``; smoothing acts on the last axis, every row on its own.
        base: integer base ``b >= 2``.
        order: spline degree ``n``.
        levels: number of scales.
        drop: after yielding a level, drop this many leading entries of axis
            ``-2`` before smoothing further (a group convolution's output scale
            ``j`` never reads input scales below ``j``), so level ``j`` holds
            rows ``j * drop ..`` of that axis.
        keep: with ``drop``, a level that no later level is made from holds
            only its first ``keep`` rows (see :func:`level_rows`): with base 2
            and order 2, level 0 feeds no other level.

    Yields:
        level ``j``: ``(..., L - 2 R_j)`` with ``R_j = radius(b**j, n)``; entry
        ``i`` is the smoothed value at input index ``i + R_j`` ("valid").
    """
    current = x
    rows = level_rows(base, order, levels, x.shape[-2], drop, keep) if keep is not None else None
    for j, (from_input, taps, dilation) in enumerate(cascade_steps(base, order, levels)):
        if from_input:
            source = x[..., j * drop :, :] if drop else x
        else:
            source = current[..., drop:, :] if drop else current
        if rows is not None:
            source = source[..., : rows[j], :]
        current = _smooth(source, taps, dilation) if taps else source
        yield current


def cascade_filter(scale: int, base: int, order: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """The filter that the cascade applies at ``scale = base**j`` (for tests).

    Equals :func:`~wavelet_networks.splines.sampled_bspline` up to rounding.
    """
    j = round(math.log(scale) / math.log(base))
    if base**j != scale:
        raise ValueError(f"scale {scale} is not a power of {base}")
    length = 2 * radius(scale, order) + 1
    delta = torch.zeros(2 * length - 1, dtype=dtype)
    delta[length - 1] = 1.0
    # smoothing a unit impulse gives the (flipped, here symmetric) correlation filter
    out = None
    for out in smoothed_levels(delta, base, order, j + 1):  # noqa: B007
        pass
    assert out is not None
    r = radius(scale, order)
    centre = length - 1 - r  # index of the impulse in the valid output
    return out[centre - r : centre + r + 1].flip(-1)

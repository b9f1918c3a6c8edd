r"""A lifting convolution fused with the max pooling over time that follows it.

The paper's networks lift at stride 1 and then max-pool over time
(``L(9, 79, C)`` then ``P(4)`` in W-M3 .. W-M34-res). Unfused, the stride-1
output is the largest tensor of the network (W-M11, batch 8: 1.3 GB) and the
one-input-channel dilated convolution that makes it runs far below the
machine's matrix-multiply speed. This module computes

.. math:: p(t, s_j) = \max_{0 \le a < P}\ (f \star \psi)(P t + a, s_j)

scale by scale and signal by signal as dense matrix products, pooling each
product right away, so the stride-1 output never exists in full.

The product: after the cascade smoothing (see
:mod:`~wavelet_networks.functional.fast.cascade`), scale ``j`` is a ``K``-tap
correlation with dilation ``d = base**j``: ``y[t] = sum_k w_k z[t + d k]``.
Splitting time into its ``d`` phases (``t = d u + phase``) makes every phase an
undilated correlation, and blocks of ``R`` consecutive ``u`` are one row of a
Toeplitz product

.. math:: Y[(\text{phase}, q), (r, c)] = \sum_{i, m} X[(\text{phase}, q), (i, m)]\,
    T[(i, m), (r, c)],\quad X = z_i[d (R q + m) + \text{phase}],\quad
    T = w_{c, i, m - r}

(``m < R + K - 1``; ``T`` is zero outside ``0 <= m - r < K``). The rows of
``X`` overlap by ``K - 1`` samples, so building it copies the input only
``(R + K - 1) / R`` times instead of the ``K`` times of an im2col, and the
product does ``(R + K - 1) / K`` times the useful arithmetic. With the
pooling as compiled loops, ``R = 8`` (1.09 times the arithmetic at ``K = 79``)
measured faster than 16 and 32 at the W-M11 stem (``benchmarks/ab_fast_paths.py
--only stem-block``); with ``R = 8`` pools of up to 8 on dyadic scales need no
reordering copy (see :func:`_layout`).

The pooling keeps the offset of each maximum in its window (one byte). Only
the maxima carry gradient, so with the compiled loops
(:mod:`~wavelet_networks.functional.fast._native`) the backward pass forms the
weight gradient straight from them: a window of channel ``c`` with gradient
``g``, its maximum at time ``t``, adds ``g z_i[t + d k]`` to
``dw[c, i, k]`` (``1 / P`` of the dense product's arithmetic, and no ``dY``).
Without them it writes the pooled gradient at those offsets and zeros
elsewhere (``dY``) and forms the weight gradient as ``X^T dY``, summed along
the Toeplitz diagonals once at the end; the pooling runs as compiled loops
when a C compiler is available, else as torch operations with the same
results.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from wavelet_networks import settings
from wavelet_networks.functional.fast import _matmul, _native
from wavelet_networks.functional.fast._threads import split_batch
from wavelet_networks.functional.fast.factorized import windows as factorized_windows
from wavelet_networks.grid import ScaleGrid

__all__ = [
    "BLOCK",
    "Hooks",
    "applies",
    "lifting_conv_max_pool1d",
    "offsets_shape",
    "pool_backward",
    "pool_forward",
    "tournament",
]

BLOCK = 8  # R: outputs per Toeplitz row


def applies(x: Tensor, weight: Tensor, scales: ScaleGrid, pool_size: int,
            bias: Tensor | None = None, *, spline_order: int = 2,
            padding: str = "same") -> bool:  # fmt: skip
    """An integer base, more than one tap, a pool of 2 to 255 (its offsets are one byte), an
    input that needs no gradient (the first layer of a network), on the CPU.

    On CUDA the layers one after the other (cuDNN) run until the fused form is
    measured there: its loop of products is sized for CPU caches.
    """
    return (
        scales.is_integer
        and weight.shape[-1] > 1
        and not x.requires_grad
        and x.device.type == "cpu"
        and 1 < pool_size < 256
    )


def lifting_conv_max_pool1d(x: Tensor, weight: Tensor, scales: ScaleGrid, pool_size: int,
                            bias: Tensor | None = None, *, spline_order: int = 2,
                            padding: str = "same") -> Tensor:  # fmt: skip
    r""":func:`~wavelet_networks.functional.reference.lifting_conv_max_pool1d`, fused.

    .. math:: p_c(t, s_j) = \max_{0 \le a < P} \sum_{c'} \sum_\tau f_{c'}(\tau)\,
        \psi^{c c'}_{s_j}(\tau - P t - a)

    without materialising the stride-1 lifting output; the bias is added after
    the max (they commute). The batch items are shared among
    ``torch.get_num_threads()`` worker threads
    (:mod:`~wavelet_networks.functional.fast._threads`).
    """
    out = _LiftingMaxPool.apply(
        x, weight, round(scales.base), scales.num_scales, spline_order, padding, pool_size
    )
    return out if bias is None else out + bias[:, None, None]


# --------------------------------------------------------------------------- the product
def _phases(z: Tensor, d: int, q: int, taps: int) -> Tensor:
    """``(B, C, L) -> (B, C, d, U)``: phase ``p`` holds ``z[d u + p]``, zero-padded to ``U``.

    ``U = q * BLOCK + taps - 1`` samples per phase cover ``q`` blocks of outputs.
    Phase-major, the rows of ``X`` are contiguous windows.
    """
    b, c, length = z.shape
    need = d * (q * BLOCK + taps - 1)
    z = F.pad(z, (0, need - length)) if need > length else z[..., :need]
    return z.reshape(b, c, need // d, d).transpose(-1, -2).contiguous()


def _rows(zp: Tensor, q0: int, nq: int, taps: int, out: Tensor) -> Tensor:
    """``X`` for blocks ``q0 .. q0 + nq`` of one signal's phases ``zp`` ``(C, d, U)``.

    Written into the front of the buffer ``out``; returns
    ``(d * nq, C * (BLOCK + taps - 1))``, rows ordered (phase, q).
    """
    c, d, u = zp.shape
    width = BLOCK + taps - 1
    view = zp.as_strided((d, nq, c, width), (u, BLOCK, d * u, 1), zp.storage_offset() + q0 * BLOCK)
    x = out[: d * nq * c * width].view(d, nq, c, width)
    x.copy_(view)
    return x.view(d * nq, c * width)


def _toeplitz(weight: Tensor) -> Tensor:
    """``T``: ``(C_out, C_in, K) -> (C_in * (BLOCK + K - 1), BLOCK * C_out)``."""
    c_out, c_in, k = weight.shape
    t = weight.new_zeros(c_in, BLOCK + k - 1, BLOCK, c_out)
    w = weight.permute(1, 2, 0)  # (C_in, K, C_out)
    for r in range(BLOCK):
        t[:, r : r + k, r, :] = w
    return t.reshape(c_in * (BLOCK + k - 1), BLOCK * c_out)


def _untoeplitz(t: Tensor, k: int) -> Tensor:
    """Adjoint of :func:`_toeplitz`: sum the diagonals back into ``(C_out, C_in, K)``."""
    rows, cols = t.shape
    c_out = cols // BLOCK
    c_in = rows // (BLOCK + k - 1)
    t = t.view(c_in, BLOCK + k - 1, BLOCK, c_out)
    w = t[:, 0:k, 0, :].clone()
    for r in range(1, BLOCK):
        w += t[:, r : r + k, r, :]
    return w.permute(2, 0, 1)


def _layout(d: int, pool: int) -> str:
    """Where a pooling window of ``pool`` times lies in a product at dilation ``d``.

    "phase": ``P`` divides ``d``, the window runs over phases; "block": ``d``
    divides ``P`` and ``P / d`` divides ``BLOCK``, the window runs over ``r``
    and phases; "time": otherwise (e.g. a pool of 3 on dyadic scales), the
    product is first copied into time order.
    """
    if d % pool == 0:
        return "phase"
    if pool % d == 0 and BLOCK % (pool // d) == 0:
        return "block"
    return "time"


def _window(y: Tensor, d: int, nq: int, pool: int) -> list[Tensor]:
    """The ``pool`` entries of every pooling window of one product ``Y``.

    ``y``: ``(d * nq, BLOCK * C)``, rows (phase, q), columns (r, c), time
    ``t = d (BLOCK q + r) + phase``. Entry ``a`` holds the times ``P tau + a``,
    laid out ``(d/P, nq, BLOCK, C)`` ("phase"), ``(nq, BLOCK d/P, C)``
    ("block", both views of ``y``) or ``(nq BLOCK d/P, C)`` ("time", a copy).
    """
    c = y.shape[1] // BLOCK
    layout = _layout(d, pool)
    if layout == "phase":
        v = y.view(d // pool, pool, nq, BLOCK, c)
        return [v[:, a] for a in range(pool)]
    if layout == "block":
        v = y.view(d, nq, BLOCK * d // pool, pool // d, c)
        return [v[a % d, :, :, a // d] for a in range(pool)]
    v = y.view(d, nq, BLOCK, c).permute(1, 2, 0, 3).reshape(-1, pool, c)
    return [v[:, a] for a in range(pool)]


def _time_order(v: Tensor, d: int, pool: int) -> Tensor:
    """A window-layout tensor (see :func:`_window`) as ``(C, times)`` in time order."""
    layout = _layout(d, pool)
    if layout == "phase":
        return v.permute(3, 1, 2, 0).reshape(v.shape[-1], -1)
    if layout == "block":
        return v.permute(2, 0, 1).reshape(v.shape[-1], -1)
    return v.t()


def _window_layout(g: Tensor, d: int, nq: int, pool: int) -> Tensor:
    """Inverse of :func:`_time_order`: ``(C, times)`` to the window layout."""
    c = g.shape[0]
    layout = _layout(d, pool)
    if layout == "phase":
        return g.view(c, nq, BLOCK, d // pool).permute(3, 1, 2, 0)
    if layout == "block":
        return g.view(c, nq, BLOCK * d // pool).permute(1, 2, 0)
    return g.t()


def tournament(entries: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Elementwise maximum of ``entries`` and the index of the first maximal entry (uint8).

    Pairwise rounds of ``maximum`` and ``>`` (ties keep the earlier entry, as
    ``max_pool1d``): several times faster on CPU than ``max(dim)`` with
    indices over a strided window axis. For a power-of-two number of entries
    the index is kept as boolean bit planes, selected with bitwise operations
    (a third of the cost of ``where`` on integers) and packed at the end.
    """
    if len(entries) & (len(entries) - 1) == 0:
        best, bits = _bit_tournament(entries)
        offset = torch.zeros(best.shape, dtype=torch.uint8, device=best.device)
        for k, bit in enumerate(bits):
            offset |= bit.view(torch.uint8) << k
        return best, offset
    return _int_tournament(entries)


def _bit_tournament(entries: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
    """Power-of-two tournament; the index as bit planes, least significant first."""
    if len(entries) == 1:
        return entries[0], []
    half = len(entries) // 2
    (left, left_bits), (right, right_bits) = (
        _bit_tournament(entries[:half]),
        _bit_tournament(entries[half:]),
    )
    later = right > left
    bits = [lb ^ (later & (lb ^ rb)) for lb, rb in zip(left_bits, right_bits, strict=True)]
    return torch.maximum(left, right), [*bits, later]


def _int_tournament(entries: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Any number of entries; the index as uint8 chosen with ``where``."""
    if len(entries) == 1:
        best = entries[0]
        return best, torch.zeros(best.shape, dtype=torch.uint8, device=best.device)
    half = len(entries) // 2
    (left, left_at), (right, right_at) = (
        _int_tournament(entries[:half]),
        _int_tournament(entries[half:]),
    )
    later = right > left
    return torch.maximum(left, right), torch.where(later, right_at + half, left_at)


def offsets_shape(d: int, nq: int, pool: int, c: int) -> tuple[int, ...]:
    """Shape of a product's offsets: that of one entry of :func:`_window`."""
    layout = _layout(d, pool)
    if layout == "phase":
        return (d // pool, nq, BLOCK, c)
    if layout == "block":
        return (nq, BLOCK * d // pool, c)
    return (nq * BLOCK * d // pool, c)


def _pool(y: Tensor, d: int, nq: int, pool: int, dest: Tensor) -> Tensor:
    """Write the maxima into ``dest`` ``(C, times)`` (time order, may be cut short).

    Returns the offsets of the maxima (uint8, window layout).
    """
    if _native.available(y.dtype, y.device):
        offset = torch.empty(offsets_shape(d, nq, pool, dest.shape[0]), dtype=torch.uint8)
        _native.pool(y, d, nq, BLOCK, pool, dest, offset)
        return offset
    best, offset = tournament(_window(y, d, nq, pool))
    if dest.shape[1] == nq * BLOCK * d // pool:  # one copy, straight into time order
        _window_layout(dest, d, nq, pool).copy_(best)
    else:
        dest.copy_(_time_order(best, d, pool)[:, : dest.shape[1]])
    return offset


def _unpool(grad: Tensor, offset: Tensor, d: int, nq: int, pool: int, out: Tensor) -> Tensor:
    """Adjoint of :func:`_pool`: ``grad`` ``(C, times)`` to ``dY`` ``(d * nq, BLOCK * C)``.

    ``dY`` is written into the front of the buffer ``out``. Where the window is
    one axis ("phase", "time", "block" at dilation 1), a scatter into zeros
    (twice as fast as comparing with every offset and multiplying).
    """
    c = grad.shape[0]
    layout = _layout(d, pool)
    if _native.available(grad.dtype, grad.device):
        dy = out[: d * nq * BLOCK * c].view(d * nq, BLOCK * c)
        _native.unpool(dy, d, nq, BLOCK, pool, offset, grad)
        return dy
    g = _window_layout(grad, d, nq, pool).unsqueeze(1)
    if layout == "time":  # entry a of window tau is time P tau + a
        dt = grad.new_zeros(g.shape[0], pool, c).scatter_(1, offset.long().unsqueeze(1), g)
        return dt.view(nq, BLOCK, d, c).permute(2, 0, 1, 3).reshape(d * nq, BLOCK * c)
    dy = out[: d * nq * BLOCK * c].view(d * nq, BLOCK * c)
    if layout == "phase":  # window axis 1 of (d/P, P, nq, BLOCK, C)
        window = dy.view(d // pool, pool, nq, BLOCK, c)
        window.zero_().scatter_(1, offset.long().unsqueeze(1), g)
    elif d == 1:  # "block" at dilation 1: window axis 3 of (1, nq, BLOCK/P, P, C)
        window = dy.view(1, nq, BLOCK // pool, pool, c)
        index = offset.long().unsqueeze(0).unsqueeze(3)
        window.zero_().scatter_(3, index, g.squeeze(1).unsqueeze(0).unsqueeze(3))
    else:  # entry a = d r'' + phase of (d, nq, BLOCK d/P, P/d, C)
        a = torch.arange(pool, dtype=torch.uint8, device=grad.device)
        a = a.view(pool // d, d).t().reshape(d, 1, 1, pool // d, 1)
        hit = offset.unsqueeze(0).unsqueeze(3) == a
        torch.mul(hit, g.squeeze(1).unsqueeze(0).unsqueeze(3), out=dy.view(d, nq, -1, pool // d, c))
    return dy


def _products(q: int, nq: int, d: int, pool: int) -> Iterator[tuple[int, int, int]]:
    """``(q0, m, tau)`` per product: blocks ``q0 .. q0 + m``, first pooled output ``tau``."""
    for q0 in range(0, q, nq):
        yield q0, min(nq, q - q0), q0 * BLOCK * d // pool


def _product_rows(c_out: int, itemsize: int) -> int:
    """Rows of X per product: ``product_rows``, halved while ``Y`` would exceed
    ``product_bytes`` (:mod:`wavelet_networks.settings`)."""
    config = settings.current()
    rows = config.product_rows
    while rows > 256 and rows * BLOCK * c_out * itemsize > config.product_bytes:
        rows //= 2
    return rows


def _chunks(time: int, d: int, pool: int, align: int, rows: int) -> tuple[int, int, int]:
    """Blocks ``q`` per phase, blocks per product ``nq``, and pooled outputs ``n``.

    Every product holds whole pooling windows, and whole groups of ``align``
    of them (the fused stem's second pool): ``nq`` and ``q`` are multiples of
    the fewest blocks whose ``d * BLOCK * blocks`` times ``pool * align`` divides.
    A product has about ``rows`` rows.
    """
    step, span = d * BLOCK, pool * align
    unit = span // math.gcd(step, span)
    q = -(-time // (step * unit)) * unit
    nq = max(unit, (rows // d) // unit * unit)
    return q, nq, time // pool


def _levels(
    x: Tensor, k: int, base: int, num_scales: int, order: int, padding: str, pool: int,
    align: int, c_out: int,
):  # fmt: skip
    """Per scale: the phases of the smoothed input and the chunking ``(zp, d, q, nq, n)``."""
    rows = _product_rows(c_out, x.element_size())
    out = []
    for z, d in factorized_windows(x, k, base, num_scales, order, padding, None):
        q, nq, n = _chunks(z.shape[-1] - d * (k - 1), d, pool, align, rows)
        out.append((_phases(z, d, q, k), d, q, nq, n))
    return out


class Hooks(NamedTuple):
    """Work that :func:`pool_forward` runs for a caller (the fused stem).

    ``product(y, d, m, b, j, tau)``, in place of :func:`_pool`: pool product
    ``y`` (``m`` blocks at dilation ``d``) of row ``(b, j)``, whose first pooled
    output is ``tau``, into the output, and return the offsets of its maxima.
    ``row(b, j)``: runs as soon as row ``out[b, :, j]`` is complete (while it
    is still warm in cache). Rows of different batch items may run at the
    same time in different threads.
    """

    product: Callable[[Tensor, int, int, int, int, int], Tensor] | None = None
    row: Callable[[int, int], None] | None = None


def pool_forward(
    x: Tensor,
    weight: Tensor,
    base: int,
    num_scales: int,
    order: int,
    padding: str,
    pool: int,
    hooks: Callable[[Tensor], Hooks] | None = None,
    align: int = 1,
    channels_last: bool = False,
) -> tuple[Tensor, Saved]:
    """The fused forward: the pooled lifting ``(B, C_out, S, n)`` and what its backward needs.

    ``hooks(out)`` is called once with the (not yet filled) output and returns
    the :class:`Hooks` to run. ``align``: every product holds whole groups of
    ``align`` pooled outputs (see :func:`_chunks`). ``channels_last``: the
    output's memory is ``(B, S, n, C_out)``, the order in which a product's
    pooled values come (for the compiled loops, which then write it in one
    sequential pass; the others take any layout but are slower on this one).
    """
    batch, c_in = x.shape[:2]
    c_out, _, k = weight.shape
    t = _toeplitz(weight)
    t_rows = _matmul.onednn_weight(t)
    levels = _levels(x, k, base, num_scales, order, padding, pool, align, c_out)
    n = levels[0][-1]
    if channels_last:
        out = x.new_empty(batch, num_scales, n, c_out).permute(0, 3, 1, 2)
    else:
        out = x.new_empty(batch, c_out, num_scales, n)
    offsets: dict[tuple[int, int], list[Tensor]] = {}
    hook = Hooks() if hooks is None else hooks(out)

    def pool_into_out(y: Tensor, d: int, m: int, b: int, j: int, tau: int) -> Tensor:
        return _pool(y, d, m, pool, out[b, :, j, tau : tau + m * BLOCK * d // pool])

    product = hook.product or pool_into_out

    def work(items: list[int]) -> None:
        for j, (zp, d, q, nq, _) in enumerate(levels):
            # scratch reused by every product: fresh multi-megabyte allocations would be
            # handed back to the system and page-faulted in again each time
            xbuf = x.new_empty(d * nq * c_in * (BLOCK + k - 1))
            ybuf = x.new_empty(d * nq * BLOCK * c_out)
            for b in items:
                level = offsets[b, j] = []
                for q0, m, tau in _products(q, nq, d, pool):
                    rows = _rows(zp[b], q0, m, k, xbuf)
                    y = _matmul.mm(rows, t, t_rows, ybuf, "lifting")
                    level.append(product(y, d, m, b, j, tau))
                if hook.row is not None:
                    hook.row(b, j)

    split_batch(batch, work)
    return out, Saved(levels, offsets)


class Saved(NamedTuple):
    """What :func:`pool_forward` leaves for :func:`pool_backward`: the smoothed input's
    phases and chunking per scale (see :func:`_levels`; a few megabytes, kept rather than
    smoothed again) and the offsets of the maxima per row and product."""

    levels: list[tuple[Tensor, int, int, int, int]]
    offsets: dict[tuple[int, int], list[Tensor]]


def pool_backward(
    weight: Tensor,
    saved: Saved,
    pool: int,
    grad_row: Callable[[int, int, Tensor], None] | None = None,
    product_grad: Callable[[int, int, int, int, int], tuple[Tensor, _native.StemGradient]]
    | None = None,
) -> Tensor:
    """The weight gradient of :func:`pool_forward`.

    ``grad_row(b, j, g)`` writes ``dL/dout[b, :, j]`` into ``g`` ``(C_out, n)``.
    With the compiled loops, ``product_grad(d, m, b, j, tau)`` may instead
    return the window gradients of one product (see ``Hooks.product``) as
    ``(grad, stem)`` for :func:`~wavelet_networks.functional.fast._native.pool_grad`
    (the fused stem's). Either may run in several threads at once, for
    different ``b``.

    With the compiled loops each window adds its gradient times the input at
    its maximum to the weight gradient (``_native.pool_grad``: ``1 / P`` of
    the arithmetic of the dense product and no ``dY``); otherwise ``dY`` is
    formed per product and the gradient is ``X^T dY``, summed along the
    Toeplitz diagonals at the end.
    """
    c_out, c_in, k = weight.shape
    levels, offsets = saved
    x = levels[0][0]  # for the dtype and device of the buffers
    native = _native.available(x.dtype, x.device)
    if not native:
        product_grad = None

    def windows(items: list[int]) -> Tensor:
        dw = torch.zeros(c_out, c_in, k, dtype=torch.float64)
        for j, (zp, d, q, nq, n) in enumerate(levels):
            g = x.new_empty(c_out, n) if product_grad is None else None
            for b in items:
                if g is not None:
                    grad_row(b, j, g)
                for (q0, m, tau), offset in zip(_products(q, nq, d, pool), offsets[b, j], strict=True):
                    if g is None:
                        grad, stem = product_grad(d, m, b, j, tau)
                    else:
                        grad, stem = g[:, tau : tau + m * BLOCK * d // pool], None
                    _native.pool_grad(dw, zp[b], q0 * BLOCK * d, m, BLOCK, pool, offset, grad, stem)
        return dw

    def dense(items: list[int]) -> Tensor:
        dt = x.new_zeros(c_in * (BLOCK + k - 1), BLOCK * c_out)
        for j, (zp, d, q, nq, n) in enumerate(levels):
            xbuf = x.new_empty(d * nq * c_in * (BLOCK + k - 1))
            dybuf = x.new_empty(d * nq * BLOCK * c_out)
            g = None
            if product_grad is None:
                g = x.new_empty(c_out, q * BLOCK * d // pool)
                g[:, n:] = 0
            for b in items:
                if g is not None:
                    grad_row(b, j, g[:, :n])
                for (q0, m, tau), offset in zip(_products(q, nq, d, pool), offsets[b, j], strict=True):
                    if g is None:
                        dy = dybuf[: d * m * BLOCK * c_out].view(d * m, BLOCK * c_out)
                        _native.unpool(dy, d, m, BLOCK, pool, offset, *product_grad(d, m, b, j, tau))
                    else:
                        dy = _unpool(g[:, tau : tau + m * BLOCK * d // pool], offset, d, m, pool, dybuf)
                    rows = _rows(zp[b], q0, m, k, xbuf)
                    dt.addmm_(rows.t(), dy)
        return dt

    if native and settings.current().window_gradient:
        return sum(split_batch(x.shape[0], windows)).to(weight.dtype)
    return _untoeplitz(sum(split_batch(x.shape[0], dense)), k)


class _LiftingMaxPool(torch.autograd.Function):
    """Fused lifting + max pool; see :func:`lifting_conv_max_pool1d` (gradient for the weight only)."""

    @staticmethod
    def forward(ctx, x, weight, base, num_scales, order, padding, pool):  # type: ignore[override]
        out, saved = pool_forward(x, weight, base, num_scales, order, padding, pool)
        ctx.save_for_backward(weight)
        ctx.meta = (pool, saved)
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (weight,) = ctx.saved_tensors
        pool, saved = ctx.meta
        dw = pool_backward(weight, saved, pool, lambda b, j, g: g.copy_(grad[b, :, j]))
        return None, dw, None, None, None, None, None

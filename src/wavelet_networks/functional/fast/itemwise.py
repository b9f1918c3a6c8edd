r"""Group convolutions one batch item per thread, the smoothing after the channel mixing.

The factorised group convolution at output scale ``j`` (dilation ``d = base**j``,
see :mod:`~wavelet_networks.functional.fast.factorized`) smooths the ``M`` input scales it
reads and then mixes channels with ``K`` taps dilated by ``d``. Smoothing and
the dilated correlation are both linear and shift-invariant, so they commute:

.. math:: y_j = h_{s_j} \star \Bigl(\sum_k W_k\, x_{j..j+M-1}[\,\cdot + d k]\Bigr),

the taps first, on the zero-padded input itself, then one smoothing of the
``C_out`` output rows (the cascade of
:func:`~wavelet_networks.functional.fast.cascade.smooth_to` for that scale alone).
The input-side form smooths ``M`` scales of ``C_in`` rows per output scale and
keeps every cascade level and every window as copies, tens of megabytes per
batch item for W-M11's first stage; here the input is copied once, scale-major
``(S, C_in, T)`` so that the ``M`` scales an output scale reads are one matrix,
the output ``u`` of the taps (one scale, ``C_out`` rows) stays in the cache
while it is smoothed, and every batch item writes its output straight into the
batch's (no per-item graphs, stacks or concatenations). The backward pass is the
adjoint in reverse: the adjoint smoothing of the output gradient, then ``2 K``
matrix products per scale into the weight gradient and into a scale-major input
gradient.

Measured on a 2-core Intel Xeon (``benchmarks/ab_fast_paths.py --only
itemwise``, ``benchmarks/results/ab-fast-paths-cpu-2core-xeon.txt``) against
the input-side form on the threaded path, forward and backward: W-M11's
``G(3, 3, 51)`` 0.49 s against 0.62 s, its ``G(1, 3, 51)`` 0.29 s against 0.35 s
(medians of the paired ratios 1.35 and 1.18).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from wavelet_networks import settings
from wavelet_networks.functional.fast import _autotune, _matmul, fft
from wavelet_networks.functional.fast._threads import split_batch
from wavelet_networks.functional.fast.cascade import radius, smooth_to, smooth_to_adjoint
from wavelet_networks.functional.fast.factorized import window_geometry

__all__ = ["applies", "group_conv1d"]


def applies(x: Tensor, weight: Tensor, base: float = 2.0, bias: Tensor | None = None, *,
            spline_order: int = 2, scale_boundary: str = "crop", stride: int = 1,
            padding: str = "same", method: str = "auto") -> bool:  # fmt: skip
    """Where it measured faster than the input-side form: on the CPU, stride 1, an integer
    base, more than one time tap, batch items on threads (as
    :func:`~wavelet_networks.functional.fast._threads.parallel`), and products of the
    sizes where they beat a dilated ``conv1d`` (``product_channels``, ``product_output``
    of :mod:`wavelet_networks.settings`); for ``method="auto"``, where the FFT is not
    cheaper (:func:`~wavelet_networks.functional.fast.fft.cheaper`)."""
    c_out, c_in, m, k = weight.shape
    config = settings.current()
    if not (
        method in ("auto", "factorized") and float(base).is_integer()
        and config.threads and x.device.type == "cpu" and not torch.compiler.is_compiling()
        and stride == 1 and k > 1 and x.shape[0] > 1
        and torch.get_num_threads() > 1 and x[0].numel() >= config.thread_min_item
        and c_in * m >= config.product_channels and c_out * x.shape[-1] <= config.product_output
    ):  # fmt: skip
        return False
    scales = x.shape[2] - m + 1 if scale_boundary == "crop" else x.shape[2]
    grid = [base**j for j in range(scales)]
    return method == "factorized" or not fft.cheaper(grid, c_in * m, c_out, k, x.shape[-1])


def group_conv1d(x: Tensor, weight: Tensor, base: float = 2.0, bias: Tensor | None = None, *,
                 spline_order: int = 2, scale_boundary: str = "crop", stride: int = 1,
                 padding: str = "same", method: str = "auto") -> Tensor:  # fmt: skip
    """:func:`~wavelet_networks.functional.reference.group_conv1d` (stride 1, integer
    ``base``), factorised with the smoothing after the taps, one batch item per thread."""
    out = _ItemwiseGroupConv.apply(x, weight, round(base), spline_order, scale_boundary, padding)
    return out if bias is None else out + bias[:, None, None]


class _ItemwiseGroupConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, base, order, scale_boundary, padding):  # type: ignore[override]
        c_out, c_in, m, k = weight.shape
        batch, _, scales, time = x.shape
        out_scales = scales - m + 1 if scale_boundary == "crop" else scales
        rows = out_scales + m - 1  # "truncate": M - 1 zero scales beyond the coarsest
        dilations = [base**j for j in range(out_scales)]
        pads, out_len, firsts = window_geometry(time, k, dilations, order, padding)
        length = time + pads[0] + pads[1]
        # (K, C_out, M C_in), columns (m, c) as the rows of a scale-major window
        taps = weight.permute(3, 0, 2, 1).reshape(k, c_out, m * c_in).contiguous()
        w = Taps.of(taps)
        y = x.new_empty(batch, c_out, out_scales, out_len)
        xs = x.new_empty(batch, rows, c_in, length)  # scale-major, zero-padded: kept for backward

        def work(items: list[int]) -> None:
            for b in items:
                _scale_major(x[b], xs[b], pads[0])
                for j, (d, first) in enumerate(zip(dilations, firsts, strict=True)):
                    n = out_len + 2 * radius(d, order)
                    span = xs[b, j : j + m].view(m * c_in, length)[:, first : first + n + (k - 1) * d]
                    u = _taps(span, w, d, n)
                    y[b, :, j].copy_(smooth_to(u, base, order, j))

        split_batch(batch, work)
        ctx.save_for_backward(xs, taps)
        ctx.meta = (base, order, pads, scales, time, firsts, dilations, m)
        return y

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        xs, taps = ctx.saved_tensors
        base, order, pads, scales, time, firsts, dilations, m = ctx.meta
        k, c_out, mc = taps.shape
        c_in, length = mc // m, xs.shape[-1]
        batch, rows = xs.shape[:2]
        want_x, want_w = ctx.needs_input_grad[:2]
        gx = grad.new_empty(batch, c_in, scales, time) if want_x else None

        w = Taps.of(taps)

        def work(items: list[int]) -> Tensor:
            gtaps = taps.new_zeros(taps.shape)
            gxs = xs.new_empty(rows, c_in, length) if want_x else None
            for b in items:
                if gxs is not None:
                    gxs.zero_()
                for j, (d, first) in enumerate(zip(dilations, firsts, strict=True)):
                    gu = smooth_to_adjoint(grad[b, :, j], base, order, j)
                    cols = slice(first, first + gu.shape[-1] + (k - 1) * d)
                    span = xs[b, j : j + m].view(m * c_in, length)[:, cols]
                    if want_w:
                        _taps_weight_grad(gtaps, gu, span, w, d)
                    if gxs is not None:
                        _taps_input_grad(gxs[j : j + m].view(m * c_in, length)[:, cols], gu, span, w, d)
                if gxs is not None:
                    gx[b].copy_(gxs[:scales, :, pads[0] : pads[0] + time].transpose(0, 1))
            return gtaps

        gtaps = sum(split_batch(batch, work))
        gw = gtaps.view(k, c_out, m, c_in).permute(1, 3, 2, 0) if want_w else None
        return gx, gw, None, None, None, None


class Taps(NamedTuple):
    """A group layer's weight as the products read it.

    ``taps`` ``(K, C_out, M C_in)`` (columns ``(m, c)``, as the rows of a
    scale-major window); where oneDNN's product applies (float32 on the CPU),
    also ``flat`` ``(C_out, K M C_in)``, columns ``(k, m, c)``, and its
    transpose ``flat_t``, contiguous.
    """

    taps: Tensor
    flat: Tensor | None
    flat_t: Tensor | None

    @classmethod
    def of(cls, taps: Tensor) -> Taps:
        if not _matmul.onednn_available(taps):
            return cls(taps, None, None)
        k, c_out, mc = taps.shape
        flat = taps.permute(1, 0, 2).reshape(c_out, k * mc).contiguous()
        return cls(taps, flat, flat.t().contiguous())


# The taps of one batch item and output scale, ``u = sum_k W_k span[:, d k : d k + n]``
# (``span`` ``(M C_in, n + d (K - 1))``), and the two gradients: as K matrix products
# each (MKL's, torch.mm) or, where oneDNN applies, as one product of oneDNN's with the
# K shifted copies of span (im2col, ``(K M C_in, n)``), whichever measured faster for
# the shape (fast._autotune). On a 2-core AMD EPYC (Zen 5) W-M11's group layers ran 1.11
# to 1.73 times faster forward+backward than on MKL's alone (benchmarks/ab_fast_paths.py
# --only autotune).
def _key(name: str, span: Tensor, n: int, w: Taps, d: int) -> tuple:
    return (name, *span.shape, n, *w.taps.shape, d, span.dtype, torch.get_num_threads())


def _im2col(span: Tensor, k: int, d: int, n: int) -> Tensor:
    """``(K M C_in, n)``: rows ``(i, c)`` hold ``span[c, d i : d i + n]``."""
    col = span.new_empty(k, span.shape[0], n)
    for i in range(k):
        col[i].copy_(span[:, i * d : i * d + n])
    return col.view(-1, n)


def _taps(span: Tensor, w: Taps, d: int, n: int) -> Tensor:
    """``u`` ``(C_out, n)``."""
    taps = w.taps

    def products() -> Tensor:
        u = span.new_empty(taps.shape[1], n)
        for i in range(taps.shape[0]):  # beta 0: the first tap writes u
            u.addmm_(taps[i], span[:, i * d : i * d + n], beta=int(i > 0))
        return u

    if w.flat is None:
        return products()

    def onednn() -> Tensor:
        return _matmul.linear(w.flat, _im2col(span, taps.shape[0], d, n).t())

    return _autotune.run(_key("itemwise", span, n, w, d), (products, onednn))


def _taps_weight_grad(gtaps: Tensor, gu: Tensor, span: Tensor, w: Taps, d: int) -> None:
    """``gtaps[k] += gu span[:, d k : d k + n]^T``."""
    k, n = gtaps.shape[0], gu.shape[-1]

    def products() -> None:
        for i in range(k):
            gtaps[i].addmm_(gu, span[:, i * d : i * d + n].t())

    if w.flat is None:
        return products()

    def onednn() -> None:
        g = _matmul.linear(gu, _im2col(span, k, d, n))  # (C_out, K M C_in)
        gtaps.add_(g.view(gtaps.shape[1], k, -1).transpose(0, 1))

    _autotune.run(_key("itemwise-dw", span, n, w, d), (products, onednn))


def _taps_input_grad(gspan: Tensor, gu: Tensor, span: Tensor, w: Taps, d: int) -> None:
    """``gspan[:, d k : d k + n] += W_k^T gu``."""
    taps, n = w.taps, gu.shape[-1]

    def products() -> None:
        for i in range(taps.shape[0]):
            gspan[:, i * d : i * d + n].addmm_(taps[i].t(), gu)

    if w.flat_t is None:
        return products()

    def onednn() -> None:
        g = _matmul.linear(w.flat_t, gu.t().contiguous()).view(taps.shape[0], -1, n)
        for i in range(taps.shape[0]):
            gspan[:, i * d : i * d + n] += g[i]

    _autotune.run(_key("itemwise-dx", span, n, w, d), (products, onednn))


def _scale_major(x: Tensor, out: Tensor, left: int) -> None:
    """``out`` ``(S', C, L)`` = ``x`` ``(C, S, T)`` scale-major at times ``left ..``, zeros around."""
    scales, time = x.shape[1], x.shape[2]
    out[:, :, :left] = 0
    out[:, :, left + time :] = 0
    out[scales:] = 0
    out[:scales, :, left : left + time].copy_(x.transpose(0, 1))

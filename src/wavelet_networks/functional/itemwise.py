r"""Group convolutions one batch item per thread, the smoothing after the channel mixing.

The factorised group convolution at output scale ``j`` (dilation ``d = base**j``,
see :mod:`~wavelet_networks.functional.conv`) smooths the ``M`` input scales it
reads and then mixes channels with ``K`` taps dilated by ``d``. Smoothing and
the dilated correlation are both linear and shift-invariant, so they commute:

.. math:: y_j = h_{s_j} \star \Bigl(\sum_k W_k\, x_{j..j+M-1}[\,\cdot + d k]\Bigr),

the taps first, on the zero-padded input itself, then one smoothing of the
``C_out`` output rows (the cascade of
:func:`~wavelet_networks.functional.smoothing.smooth_to` for that scale alone).
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

Measured on the 2-core development machine (``benchmarks/ab_fast_paths.py --only
itemwise``, saved in ``benchmarks/results/ab-fast-paths-cpu-2core-xeon.txt``)
against the input-side form on the threaded path, forward and backward: W-M11's
``G(3, 3, 51)`` 0.49 s against 0.62 s, its ``G(1, 3, 51)`` 0.29 s against 0.35 s
(medians of the paired ratios 1.35 and 1.18).
:func:`~wavelet_networks.functional.group_conv1d` runs it where the input-side
form ran one batch item per thread with matrix products (see ``conv._itemwise``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from wavelet_networks.functional._threads import split_batch
from wavelet_networks.functional.kernels import window_geometry
from wavelet_networks.functional.smoothing import radius, smooth_to, smooth_to_adjoint

__all__ = ["group_conv"]

def group_conv(
    x: Tensor, weight: Tensor, base: int, order: int, scale_boundary: str, padding: str
) -> Tensor:
    """The factorised group convolution (stride 1, integer ``base``), smoothing after the taps.

    Equal (up to float rounding) to
    :func:`~wavelet_networks.functional.group_conv1d` with ``method="factorized"``
    and no bias.

    Args:
        x: ``(batch, in_channels, scales, time)``.
        weight: ``(out_channels, in_channels, scale_kernel_size, kernel_size)``.
        base: integer ratio of neighbouring scales.
        order: B-spline degree.
        scale_boundary: "crop" or "truncate".
        padding: "same" or "valid".

    Returns:
        ``(batch, out_channels, scales', time')``.
    """
    return _ItemwiseGroupConv.apply(x, weight, base, order, scale_boundary, padding)


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
        y = x.new_empty(batch, c_out, out_scales, out_len)
        xs = x.new_empty(batch, rows, c_in, length)  # scale-major, zero-padded: kept for backward

        def work(items: list[int]) -> None:
            for b in items:
                _scale_major(x[b], xs[b], pads[0])
                for j, (d, first) in enumerate(zip(dilations, firsts, strict=True)):
                    window = xs[b, j : j + m].view(m * c_in, length)
                    n = out_len + 2 * radius(d, order)
                    u = x.new_empty(c_out, n)
                    for i in range(k):  # beta 0: the first tap writes u
                        u.addmm_(taps[i], window[:, first + i * d : first + i * d + n], beta=int(i > 0))
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

        def work(items: list[int]) -> Tensor:
            gtaps = taps.new_zeros(taps.shape)
            gxs = xs.new_empty(rows, c_in, length) if want_x else None
            for b in items:
                if gxs is not None:
                    gxs.zero_()
                for j, (d, first) in enumerate(zip(dilations, firsts, strict=True)):
                    gu = smooth_to_adjoint(grad[b, :, j], base, order, j)
                    n = gu.shape[-1]
                    window = xs[b, j : j + m].view(m * c_in, length)
                    for i in range(k):
                        cols = slice(first + i * d, first + i * d + n)
                        if want_w:
                            gtaps[i].addmm_(gu, window[:, cols].t())
                        if gxs is not None:
                            gxs[j : j + m].view(m * c_in, length)[:, cols].addmm_(taps[i].t(), gu)
                if gxs is not None:
                    gx[b].copy_(gxs[:scales, :, pads[0] : pads[0] + time].transpose(0, 1))
            return gtaps

        gtaps = sum(split_batch(batch, work))
        gw = gtaps.view(k, c_out, m, c_in).permute(1, 3, 2, 0) if want_w else None
        return gx, gw, None, None, None, None


def _scale_major(x: Tensor, out: Tensor, left: int) -> None:
    """``out`` ``(S', C, L)`` = ``x`` ``(C, S, T)`` scale-major at times ``left ..``, zeros around."""
    scales, time = x.shape[1], x.shape[2]
    out[:, :, :left] = 0
    out[:, :, left + time :] = 0
    out[scales:] = 0
    out[:scales, :, left : left + time].copy_(x.transpose(0, 1))

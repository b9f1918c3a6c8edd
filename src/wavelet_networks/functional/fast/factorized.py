r"""The factorised convolutions: smoothing by the "a trous" cascade, then dilated convolutions.

For an integer scale ``s`` the sampled kernel of
:func:`~wavelet_networks.functional.reference.spline_kernel` factorises,

.. math:: \psi_s = h_s * (w \uparrow s), \qquad h_s[m] = B^n(m/s)/s,

so a lifting convolution at scale ``s_j = b^j`` is the input smoothed at
``s_j`` (:func:`~wavelet_networks.functional.reference.smooth`) correlated
with the ``K`` weights dilated by ``s_j``. The smoothing of every scale comes
from the cascade of :mod:`~wavelet_networks.functional.fast.cascade` (a few
taps per level), applied once to the whole input (for a group convolution: to
the whole scale stack, then sliced); the correlation is one dilated ``K``-tap
``conv1d`` per scale. Per output sample this costs ``C_in K`` multiply-adds,
against ``C_in (K + n + 1) s`` for the sampled kernel.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from wavelet_networks import settings
from wavelet_networks.functional.fast import _autotune
from wavelet_networks.functional.fast.cascade import (
    cascade_steps,
    level_rows,
    radius,
    smooth_adjoint,
    smoothed_levels,
)
from wavelet_networks.functional.reference import kernel_extent
from wavelet_networks.grid import ScaleGrid

__all__ = ["group_conv1d", "group_pointwise", "lifting_conv1d", "window_geometry", "windows"]


# --------------------------------------------------------------------------- the implementations
def lifting_applies(x: Tensor, weight: Tensor, scales: ScaleGrid, bias: Tensor | None = None, *,
                    spline_order: int = 2, stride: int = 1, padding: str = "same",
                    method: str = "auto") -> bool:  # fmt: skip
    """Integer scales and more than one tap (``method`` "auto" or "factorized")."""
    return method in ("auto", "factorized") and scales.is_integer and weight.shape[-1] > 1


def lifting_conv1d(x: Tensor, weight: Tensor, scales: ScaleGrid, bias: Tensor | None = None, *,
                   spline_order: int = 2, stride: int = 1, padding: str = "same",
                   method: str = "auto") -> Tensor:  # fmt: skip
    """:func:`~wavelet_networks.functional.reference.lifting_conv1d`, factorised."""
    base = round(scales.base)
    ys = _dilated_convs(x, weight, base, scales.num_scales, spline_order, padding, stride, None)
    out = torch.stack(ys, dim=2)
    return out if bias is None else out + bias[:, None, None]


def group_applies(x: Tensor, weight: Tensor, base: float = 2.0, bias: Tensor | None = None, *,
                  spline_order: int = 2, scale_boundary: str = "crop", stride: int = 1,
                  padding: str = "same", method: str = "auto") -> bool:  # fmt: skip
    """An integer base and more than one time tap (``method`` "auto" or "factorized")."""
    return method in ("auto", "factorized") and float(base).is_integer() and weight.shape[-1] > 1


def group_conv1d(x: Tensor, weight: Tensor, base: float = 2.0, bias: Tensor | None = None, *,
                 spline_order: int = 2, scale_boundary: str = "crop", stride: int = 1,
                 padding: str = "same", method: str = "auto") -> Tensor:  # fmt: skip
    """:func:`~wavelet_networks.functional.reference.group_conv1d`, factorised."""
    c_out, c_in, m, k = weight.shape
    if scale_boundary == "crop":
        out_scales = x.shape[2] - m + 1
    else:
        out_scales = x.shape[2]
        x = F.pad(x, (0, 0, 0, m - 1))
    w = weight.reshape(c_out, c_in * m, k)
    ys = _dilated_convs(x, w, round(base), out_scales, spline_order, padding, stride, m)
    out = torch.stack(ys, dim=2)
    return out if bias is None else out + bias[:, None, None]


def pointwise_applies(x: Tensor, weight: Tensor, base: float = 2.0, bias: Tensor | None = None,
                      *, spline_order: int = 2, scale_boundary: str = "crop", stride: int = 1,
                      padding: str = "same", method: str = "auto") -> bool:  # fmt: skip
    """One time tap (any ``method`` but "direct")."""
    return method != "direct" and weight.shape[-1] == 1


def group_pointwise(x: Tensor, weight: Tensor, base: float = 2.0, bias: Tensor | None = None, *,
                    spline_order: int = 2, scale_boundary: str = "crop", stride: int = 1,
                    padding: str = "same", method: str = "auto") -> Tensor:  # fmt: skip
    """A group convolution of one time tap: an ``(M x 1)`` convolution over (scale, time)."""
    if scale_boundary == "truncate":
        x = F.pad(x, (0, 0, 0, weight.shape[2] - 1))
    out = F.conv2d(x, weight, stride=(1, stride))
    return out if bias is None else out + bias[:, None, None]


# --------------------------------------------------------------------------- geometry
def window_geometry(
    time: int, kernel_size: int, dilations: list[int], order: int, padding: str
) -> tuple[tuple[int, int], int, list[int]]:
    """Where the factorised convolutions read: ``(pads, out_len, firsts)``.

    ``pads``: the zero padding ``(left, right)`` of the input ("same": the widest
    kernel's extent, "valid": none); ``out_len``: the output length. At scale
    ``d`` the input smoothed "valid" at ``d`` (entry ``i`` is padded time
    ``i + R_d``, see :func:`~wavelet_networks.functional.fast.cascade.radius`) is
    read from ``firsts[j]`` on, ``out_len + d (K - 1)`` times, by the ``K`` taps
    dilated by ``d``.
    """
    k = kernel_size
    extents = [kernel_extent(k, d, order) for d in dilations]
    left = max(e[0] for e in extents)
    right = max(e[1] for e in extents)
    if padding == "same":
        out_len, start, pads = time, 0, (left, right)
    else:
        out_len, start, pads = time - left - right, left, (0, 0)
        left = 0
    firsts = [start - d * (k // 2) + left - radius(d, order) for d in dilations]
    return pads, out_len, firsts


def windows(
    x: Tensor,
    kernel_size: int,
    base: int,
    num_out: int,
    order: int,
    padding: str,
    group_taps: int | None,
) -> Iterator[tuple[Tensor, int]]:
    """Per output scale, the smoothed input window and the dilation of the weights.

    Output scale ``j`` is ``conv1d(z_j, weight, dilation=d_j)`` (``d_j = base**j``)
    for the yielded ``(z_j, d_j)``: the cascade smoothing of the whole input,
    then the window of it that the dilated ``K``-tap convolution reads.

    Args:
        x: ``(B, C, T)`` (lifting, ``group_taps=None``) or ``(B, C, S, T)`` (group).
        kernel_size: time taps ``K``.
        base: integer base.
        num_out: number of output scales.
        group_taps: ``M`` for a group convolution (output scale ``j`` reads
            input scales ``j .. j+M-1``), ``None`` for a lifting convolution.

    Yields:
        ``(z_j, d_j)``: ``z_j`` is ``(B, C, T' + d_j (K - 1))`` (lifting) or
        ``(B, C * M, T' + d_j (K - 1))`` (group), ``T'`` the output length.
    """
    k = kernel_size
    dilations = [base**j for j in range(num_out)]
    pads, out_len, firsts = window_geometry(x.shape[-1], k, dilations, order, padding)
    if padding == "same":
        x = F.pad(x, pads)
    lengths = [out_len + d * (k - 1) for d in dilations]
    if group_taps is None:
        levels = smoothed_levels(x, base, order, num_out)
        for d, level, first, length in zip(dilations, levels, firsts, lengths, strict=False):
            yield level[..., first : first + length], d
    else:
        # a group convolution's level j holds input scales j.. (one dropped per level)
        windows = _GroupWindows.apply(x, base, order, group_taps, firsts, lengths)
        yield from zip(windows, dilations, strict=True)


def _dilated_convs(
    x: Tensor,
    weight: Tensor,
    base: int,
    num_out: int,
    order: int,
    padding: str,
    stride: int,
    group_taps: int | None,
) -> list[Tensor]:
    """Cascade smoothing of the whole input, then one dilated conv per scale.

    Args: as :func:`windows`; ``weight`` is ``(C_out, C_eff, K)``,
    ``C_eff = C`` or ``C * M``.

    Returns:
        one ``(B, C_out, T')`` tensor per output scale.
    """
    parts = windows(x, weight.shape[-1], base, num_out, order, padding, group_taps)
    # one batch item at a time (the threaded path of fast._threads) with a small output:
    # products measured faster on W-M11's layers; on whole batches, or outputs that
    # outgrow the cache (W-SampleCNN), slower (see _DilatedProducts). Group layers there
    # take fast.itemwise instead.
    k = weight.shape[-1]
    config = settings.current()
    as_products = (
        stride == 1
        and x.device.type == "cpu"
        and x.shape[0] == 1
        and weight.shape[1] >= config.product_channels
    )
    taps = weight.permute(2, 0, 1).contiguous() if as_products else None  # (K, C_out, C_eff)
    # elsewhere oneDNN's conv1d; for group layers with its backward as matrix products
    product_backward = (
        group_taps is not None and stride == 1 and k > 1 and x.device.type == "cpu"
        and not torch.compiler.is_compiling()
        and torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    )  # fmt: skip
    return [
        _DilatedProducts.apply(z, taps, d)
        if taps is not None and weight.shape[0] * (z.shape[-1] - d * (k - 1)) <= config.product_output
        else _DilatedConv.apply(z, weight, d)
        if product_backward
        else F.conv1d(z, weight, stride=stride, dilation=d)
        for z, d in parts
    ]


class _DilatedProducts(torch.autograd.Function):
    """A stride-1 "valid" dilated correlation as ``K`` matrix products per batch item.

    ``y_b = sum_k W_k z_b[:, d k : d k + T]`` with ``W_k`` ``(C_out, C_eff)``: each
    product reads a shifted view of the window, and the backward pass is
    ``K`` more products per gradient. On CPU, one batch item at a time, for a
    group layer's ``C_eff`` of tens to hundreds of channels, measured faster
    than oneDNN's dilated ``conv1d`` (``benchmarks/ab_fast_paths.py --only
    group-products``): 1.03 to 1.23 times on W-M11's group layers, but 0.76
    to 0.88 times on W-SampleCNN's, whose outputs outgrow the cache; oneDNN
    is also faster on whole batches.
    """

    @staticmethod
    def forward(ctx, z, taps, d):  # type: ignore[override]
        k = taps.shape[0]
        batch, _, length = z.shape
        time = length - d * (k - 1)
        out = z.new_empty(batch, taps.shape[1], time)
        for b in range(batch):
            torch.mm(taps[0], z[b, :, :time], out=out[b])
            for i in range(1, k):
                out[b].addmm_(taps[i], z[b, :, i * d : i * d + time])
        ctx.save_for_backward(z, taps)
        ctx.d = d
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        z, taps = ctx.saved_tensors
        d, (k, c_out, c_eff) = ctx.d, taps.shape
        batch, time = grad.shape[0], grad.shape[-1]
        gz = gtaps = None
        if ctx.needs_input_grad[0]:
            gz = torch.zeros_like(z)
            for b in range(batch):
                for i in range(k):
                    gz[b, :, i * d : i * d + time].addmm_(taps[i].t(), grad[b])
        if ctx.needs_input_grad[1]:
            gtaps = taps.new_zeros(k, c_out, c_eff)
            for b in range(batch):
                for i in range(k):
                    gtaps[i].addmm_(grad[b], z[b, :, i * d : i * d + time].t())
        return gz, gtaps, None


class _DilatedConv(torch.autograd.Function):
    """oneDNN's dilated ``conv1d`` (stride 1, "valid"), its backward as matrix products or
    oneDNN's own, whichever measured faster per shape (:mod:`._autotune`).

    The products: ``dL/dz[:, :, d k : d k + T] += W_k^T g`` and ``dL/dW_k = sum_b g_b
    z_b[:, d k : d k + T]^T``, ``K`` batched products each (MKL's). Which is faster
    depends on the CPU and the shape: on an Intel Xeon (AVX-512 for both) the products
    measured 1.1 to 1.2 times faster forward+backward for W-SampleCNN's
    ``G(3, 3, 90)`` and W-M11's second stage and 1.2 to 1.3 times slower at its fourth;
    on an AMD EPYC (Zen 5), where MKL runs AVX2 and oneDNN AVX-512, oneDNN's measured faster
    at W-M11's shapes (``benchmarks/ab_fast_paths.py --only conv-backward``).
    """

    @staticmethod
    def forward(ctx, z, weight, d):  # type: ignore[override]
        ctx.save_for_backward(z, weight)
        ctx.d = d
        return F.conv1d(z, weight, dilation=d)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        z, weight = ctx.saved_tensors
        d, k = ctx.d, weight.shape[-1]
        batch, time = grad.shape[0], grad.shape[-1]
        mask = tuple(ctx.needs_input_grad[:2])

        def products() -> tuple[Tensor | None, Tensor | None]:
            gz = gw = None
            if mask[0]:
                gz = torch.zeros_like(z)
                for i in range(k):
                    wt = weight[:, :, i].t().expand(batch, -1, -1)
                    gz[:, :, i * d : i * d + time].baddbmm_(wt, grad)
            if mask[1]:
                gw = weight.new_empty(weight.shape)
                for i in range(k):
                    zi = z[:, :, i * d : i * d + time].transpose(1, 2)
                    gw[:, :, i] = torch.bmm(grad, zi).sum(0)
            return gz, gw

        def onednn() -> tuple[Tensor | None, Tensor | None]:
            gz, gw, _ = torch.ops.aten.convolution_backward(
                grad, z, weight, None, (1,), (0,), (d,), False, (0,), 1, (*mask, False)
            )
            return gz, gw

        key = ("dilated-conv-backward", *z.shape, *weight.shape, d, mask, z.dtype,
               torch.get_num_threads())  # fmt: skip
        gz, gw = _autotune.run(key, (products, onednn))
        return gz, gw, None


class _GroupWindows(torch.autograd.Function):
    """The windows a group convolution's dilated convs read, with one adjoint pass.

    ``(B, C, S, L) ->`` one ``(B, C * M, length_j)`` tensor per output scale ``j``:
    input scales ``j .. j+M-1`` smoothed at scale ``base**j`` (the cascade of
    :func:`~wavelet_networks.functional.fast.cascade.smoothed_levels`, one scale
    dropped per level), times ``first_j .. first_j + length_j``. The backward
    runs the cascade's adjoint from the coarsest level down, accumulating into
    one buffer per level, instead of autograd's zero-filled buffer per slice,
    per window and per smoothing step (a third of a group layer's time).
    """

    @staticmethod
    def forward(x, base, order, taps, firsts, lengths):  # type: ignore[override]
        out = []
        levels = smoothed_levels(x, base, order, len(firsts), drop=1, keep=taps)
        for level, first, length in zip(levels, firsts, lengths, strict=False):
            b, c = level.shape[:2]
            out.append(level[:, :, :taps, first : first + length].reshape(b, c * taps, length))
        return tuple(out)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        x, base, order, taps, firsts, lengths = inputs
        ctx.meta = (x.shape, base, order, taps, firsts, lengths)

    @staticmethod
    def backward(ctx, *grads):  # type: ignore[override]
        shape, base, order, taps, firsts, lengths = ctx.meta
        steps = cascade_steps(base, order, len(firsts))
        b, c = shape[:2]
        # level j: scales j.. (only the ones read where no level is made from it), time
        # shortened by the taps of every step that made it
        rows = level_rows(base, order, len(firsts), shape[2], 1, taps)
        sizes, time = [], shape[-1]
        for j, (from_input, h, dilation) in enumerate(steps):
            time = (shape[-1] if from_input else time) - max(len(h) - 1, 0) * dilation
            sizes.append((b, c, rows[j], time))
        gx = grads[0].new_zeros(shape)
        below = None  # gradient of level j + 1, where level j + 1 is made from level j
        for j in reversed(range(len(steps))):
            g = grads[0].new_zeros(sizes[j])
            if grads[j] is not None:
                window = g[:, :, :taps, firsts[j] : firsts[j] + lengths[j]]
                window += grads[j].view(b, c, taps, lengths[j])
            if below is not None:
                _, h, dilation = steps[j + 1]
                smooth_adjoint(g[:, :, 1 : 1 + below.shape[2]], below, h, dilation)
            from_input, h, dilation = steps[j]
            if from_input:
                smooth_adjoint(gx[:, :, j : j + rows[j]], g, h, dilation)
                below = None
            else:
                below = g
        return gx, None, None, None, None, None

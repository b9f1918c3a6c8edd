r"""Lifting and group convolutions, with three interchangeable implementations.

Both convolutions reduce, at output scale ``s_j``, to a cross-correlation of a
``(B, C_eff, T)`` signal (the input; for a group convolution the ``M`` input
scales ``j .. j+M-1`` stacked as channels) with the kernel ``psi_{s_j}``:

- ``"direct"``: sample ``psi_s`` (:func:`~wavelet_networks.functional.spline_kernel`)
  and correlate, one scale at a time. The reference: any real scale, simplest,
  slow at coarse scales (the kernel has ``(K + n + 1) s`` taps).
- ``"factorized"`` (integer base): ``psi_s = h_s * (w \uparrow s)``; the
  smoothing ``h_s`` of every scale comes from the "a trous" cascade
  (:mod:`~wavelet_networks.functional.smoothing`), a few taps per level, applied
  once to the whole input (for a group convolution: to the whole scale stack,
  then sliced), followed by one dilated ``K``-tap convolution per scale.
- ``"fft"``: correlate with the sampled ``psi_s`` through overlap-save FFTs
  (:mod:`~wavelet_networks.functional.fft`); its cost does not grow with the
  kernel length: the fastest for long sampled kernels on few input channels
  (non-integer bases at coarse scales; on CPU the factorised path still beats
  it for a lifting layer's 79 taps on a mono signal).
- ``"auto"``: "fft" where a cost model says it is cheaper, else
  "factorized" for integer bases, else "direct".

All agree to float rounding; the tests check them against each other and
against a brute-force reference.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from wavelet_networks._validation import (
    check_choice,
    check_group,
    check_positive_int,
    check_signal,
)
from wavelet_networks.functional import _autotune, _threads, itemwise
from wavelet_networks.functional._threads import batch_parallel
from wavelet_networks.functional.fft import fft_block_size, fft_correlate
from wavelet_networks.functional.kernels import kernel_extent, spline_kernel, window_geometry
from wavelet_networks.functional.smoothing import (
    cascade_steps,
    level_rows,
    smooth_adjoint,
    smoothed_levels,
)
from wavelet_networks.grid import ScaleGrid, check_base
from wavelet_networks.splines import check_order

__all__ = ["METHODS", "PADDINGS", "SCALE_BOUNDARIES", "group_conv1d", "lifting_conv1d"]

PADDINGS = ("same", "valid")
SCALE_BOUNDARIES = ("crop", "truncate")
METHODS = ("auto", "factorized", "direct", "fft")


# --------------------------------------------------------------------------- geometry
def _paddings(
    kernel_size: int, scales: list[float], order: int, length: int, padding: str
) -> list[tuple[int, int]]:
    """Per scale, the zero padding (negative: cropping) of the input for the sampled kernel."""
    extents = [kernel_extent(kernel_size, s, order) for s in scales]
    if padding == "same":
        return extents
    left = max(e[0] for e in extents)
    right = max(e[1] for e in extents)
    if length < left + right + 1:
        raise ValueError(
            f"with padding='valid' the signal must be at least as long as the kernel at the "
            f"coarsest scale ({left + right + 1} samples), got time length {length}"
        )
    return [(-(left - lx), -(right - rx)) for lx, rx in extents]


def _choose(method: str, scales: list[float], c_eff: int, c_out: int, k: int, length: int) -> str:
    """Resolve "auto" (and check the others) for a layer at these shapes."""
    check_choice(method, "method", METHODS)
    integer = all(float(s).is_integer() for s in scales)
    if method == "factorized" and not integer:
        raise ValueError("method='factorized' needs integer scales (an integer base)")
    if method != "auto":
        return method
    if k > 1 and _fft_cheaper(scales, c_eff, c_out, k, length):
        return "fft"
    return "factorized" if integer else "direct"


def _fft_cheaper(scales: list[float], c_eff: int, c_out: int, k: int, length: int) -> bool:
    """Cost model, in CPU nanoseconds per output sample and output channel.

    Constants measured on a 2-core AMD EPYC (torch 2.13, one thread) at the
    W-M11 lifting shape, forward pass: a dilated ``conv1d`` runs at about
    8 GMAC/s, so the factorised path costs ``C_eff * K / 8`` (the direct path
    ``C_eff * taps_s / 8`` with the sampled kernel's ``taps_s``); the FFT path
    costs about 9 ns (inverse FFT, slicing) plus 5 ns per input channel
    (complex product), times the overlap-save redundancy ``n / hop``. With
    these numbers the factorised path wins for a lifting layer's 79 taps on one
    channel (10 vs 15 ns); the FFT wins for non-integer bases at coarse scales.
    """
    integer = all(float(s).is_integer() for s in scales)
    direct = fft = 0.0
    for s in scales:
        taps = sum(kernel_extent(k, s, 2)) + 1
        direct += c_eff * (k if integer else taps) / 8.0
        n = fft_block_size(taps, length)
        fft += n / max(1, n - taps + 1) * (9.0 + 5.0 * c_eff + 9.0 * c_eff / c_out)
    return fft < direct


# --------------------------------------------------------------------------- implementations
def _sampled(
    select: list[Tensor],
    weight: Tensor,
    scales: list[float],
    order: int,
    pads: list[tuple[int, int]],
    stride: int,
    use_fft: bool,
) -> list[Tensor]:
    """ "direct" and "fft": correlate each scale's input with the sampled kernel ``psi_s``."""
    k = weight.shape[-1]
    out = []
    for x, s, pad in zip(select, scales, pads, strict=True):
        x = F.pad(x, pad)
        if k == 1:
            out.append(F.conv1d(x, weight, stride=stride))
            continue
        psi = spline_kernel(weight, s, order)
        out.append(fft_correlate(x, psi, stride) if use_fft else F.conv1d(x, psi, stride=stride))
    return out


def _factorized_windows(
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


def _factorized(
    x: Tensor,
    weight: Tensor,
    base: int,
    num_out: int,
    order: int,
    padding: str,
    stride: int,
    group_taps: int | None,
) -> list[Tensor]:
    """ "factorized": cascade smoothing of the whole input, then one dilated conv per scale.

    Args: as :func:`_factorized_windows`; ``weight`` is ``(C_out, C_eff, K)``,
    ``C_eff = C`` or ``C * M``.

    Returns:
        one ``(B, C_out, T')`` tensor per output scale.
    """
    windows = _factorized_windows(x, weight.shape[-1], base, num_out, order, padding, group_taps)
    # one batch item at a time (the threaded path of functional._threads) with a
    # small output: products measured faster on W-M11's layers; on whole batches,
    # or outputs that outgrow the cache (W-SampleCNN), slower (see _DilatedProducts).
    # Group layers there take functional.itemwise instead (see _itemwise).
    k = weight.shape[-1]
    as_products = (
        stride == 1
        and x.device.type == "cpu"
        and x.shape[0] == 1
        and weight.shape[1] >= PRODUCT_CHANNELS
    )
    taps = weight.permute(2, 0, 1).contiguous() if as_products else None  # (K, C_out, C_eff)
    # elsewhere oneDNN's conv1d; for group layers with its backward as matrix products
    product_backward = (
        group_taps is not None and stride == 1 and k > 1 and x.device.type == "cpu"
        and not torch.compiler.is_compiling() and x.shape[-1] >= PRODUCT_BACKWARD_TIME
        and torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    )  # fmt: skip
    return [
        _DilatedProducts.apply(z, taps, d)
        if taps is not None and weight.shape[0] * (z.shape[-1] - d * (k - 1)) <= PRODUCT_OUTPUT
        else _DilatedConv.apply(z, weight, d)
        if product_backward
        else F.conv1d(z, weight, stride=stride, dilation=d)
        for z, d in windows
    ]


PRODUCT_CHANNELS = 32  # C_eff from which K matrix products beat a dilated conv1d on CPU
PRODUCT_OUTPUT = 2**19  # and output values per item up to which they do (about 2 MB)


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


PRODUCT_BACKWARD_TIME = 0  # input time from which _DilatedConv (and its tuned backward) runs


class _DilatedConv(torch.autograd.Function):
    """oneDNN's dilated ``conv1d`` (stride 1, "valid"), its backward as matrix products or
    oneDNN's own, whichever measured faster per shape (:mod:`._autotune`).

    The products: ``dL/dz[:, :, d k : d k + T] += W_k^T g`` and ``dL/dW_k = sum_b g_b
    z_b[:, d k : d k + T]^T``, ``K`` batched products each (MKL's). On the Intel Xeon
    (``benchmarks/ab_fast_paths.py --only conv-backward``, when this was a fixed rule,
    saved in ``benchmarks/results/ab-fast-paths-cpu-2core-xeon.txt``) they were 1.1 to
    1.2 times faster forward+backward for W-SampleCNN's ``G(3, 3, 90)`` and W-M11's
    second stage, no faster at its third and 1.2 to 1.3 times slower at its fourth; on
    the AMD EPYC (Zen 5), where MKL runs AVX2 and oneDNN AVX-512, oneDNN's is faster at
    W-M11's shapes: hence the choice by timing.
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
    :func:`~wavelet_networks.functional.smoothing.smoothed_levels`, one scale
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
        below = None  # gradient of level j + 1, when that level was made from level j
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


# --------------------------------------------------------------------------- public API
def lifting_conv1d(
    x: Tensor,
    weight: Tensor,
    scales: ScaleGrid,
    spline_order: int = 2,
    bias: Tensor | None = None,
    stride: int = 1,
    padding: str = "same",
    method: str = "auto",
) -> Tensor:
    r"""Lifting convolution from the line to the scale-translation group.

    .. math:: (f \star \psi)(t, s_j) = \sum_{c}\sum_\tau f_c(\tau)\, \psi^{c}_{s_j}(\tau - t)

    with :math:`\psi_s(x) = \frac1s \sum_k w_k B^n(x/s - k)`.

    Args:
        x: signal ``(batch, in_channels, time)``.
        weight: spline coefficients ``(out_channels, in_channels, kernel_size)``.
        scales: the scale grid ``s_j``.
        spline_order: B-spline degree ``n``.
        bias: optional ``(out_channels,)``, shared by all scales and times.
        stride: time step of the output.
        padding: "same" (zero padding, output time ``ceil(time / stride)``) or
            "valid" (only where the kernel of the coarsest scale fits).
        method: "factorized" (cascade smoothing, then dilated convs; integer
            scales only), "fft", "direct" (sampled kernels) or "auto" (see the
            module documentation).

    Returns:
        ``(batch, out_channels, num_scales, time')``.
    """
    check_signal(x)
    _check_weight(weight, 3, "(out_channels, in_channels, kernel_size)")
    check_signal(x, weight.shape[1])
    check_order(spline_order)
    check_positive_int(stride, "stride")
    check_choice(padding, "padding", PADDINGS)
    grid = list(scales)
    c_out, c_in, k = weight.shape
    pads = _paddings(k, grid, spline_order, x.shape[-1], padding)
    chosen = _choose(method, grid, c_in, c_out, k, x.shape[-1])
    if k == 1:  # pointwise: the same map at every scale
        y = F.conv1d(x, weight, stride=stride)
        out = y.unsqueeze(2).expand(-1, -1, len(grid), -1).contiguous()
    elif chosen == "factorized":
        base = round(grid[1] / grid[0]) if len(grid) > 1 else 2
        ys = _factorized(x, weight, base, len(grid), spline_order, padding, stride, None)
        out = torch.stack(ys, dim=2)
    else:
        xs = [x] * len(grid)
        ys = _sampled(xs, weight, grid, spline_order, pads, stride, chosen == "fft")
        out = torch.stack(ys, dim=2)
    return out if bias is None else out + bias[:, None, None]


def group_conv1d(
    x: Tensor,
    weight: Tensor,
    base: float = 2.0,
    spline_order: int = 2,
    scale_boundary: str = "crop",
    bias: Tensor | None = None,
    stride: int = 1,
    padding: str = "same",
    method: str = "auto",
) -> Tensor:
    r"""Group convolution on the scale-translation group.

    .. math::
        (F \star \Psi)(t, s_j) = \sum_{c}\sum_{m=0}^{M-1}\sum_\tau
            F_c(\tau, s_{j+m})\, \Psi^{c}_{s_j}(\tau - t, m)

    with :math:`\Psi_s(x, m) = \frac1s \sum_k w_{k,m} B^n(x/s - k)`: the kernel
    spans ``M`` neighbouring scales and is dilated by ``s_j`` at output scale ``j``.

    Args:
        x: group features ``(batch, in_channels, scales, time)``; scale ``j`` is ``base**j``.
        weight: ``(out_channels, in_channels, scale_kernel_size, kernel_size)``.
        base: ratio between neighbouring scales.
        spline_order: B-spline degree ``n``.
        scale_boundary: "crop" (``scales - M + 1`` output scales, exactly
            equivariant) or "truncate" (``scales`` output scales; missing
            coarser scales count as zero, equivariant away from the coarse end).
        bias: optional ``(out_channels,)``.
        stride: time step of the output.
        padding: "same" or "valid" (as in :func:`lifting_conv1d`).
        method: "auto", "factorized", "fft" or "direct" (as in :func:`lifting_conv1d`).

    Returns:
        ``(batch, out_channels, scales', time')``.
    """
    check_group(x)
    _check_weight(weight, 4, "(out_channels, in_channels, scale_kernel_size, kernel_size)")
    check_group(x, weight.shape[1])
    check_base(base)
    check_order(spline_order)
    check_positive_int(stride, "stride")
    check_choice(padding, "padding", PADDINGS)
    check_choice(scale_boundary, "scale_boundary", SCALE_BOUNDARIES)
    m = weight.shape[2]
    num_scales = x.shape[2]
    if scale_boundary == "crop" and num_scales < m:
        raise ValueError(
            f"scale_boundary='crop' needs at least scale_kernel_size={m} scales, got an "
            f"input with {num_scales} scales (shape {tuple(x.shape)}); use fewer "
            f"scale taps or scale_boundary='truncate'"
        )
    check_choice(method, "method", METHODS)

    def conv(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return _group_conv(x, weight, bias, base, spline_order, scale_boundary, stride, padding, method)

    if _itemwise(x, weight, base, stride, method, spline_order, scale_boundary, padding):
        out = itemwise.group_conv(x, weight, round(base), spline_order, scale_boundary, padding)
        return out if bias is None else out + bias[:, None, None]
    # one batch item per core: see functional._threads
    return batch_parallel(conv, x, weight, bias)


def _itemwise(x, weight, base, stride, method, order, scale_boundary, padding) -> bool:
    """Whether :func:`~wavelet_networks.functional.itemwise.group_conv` is the faster path.

    Where it was measured faster: on CPU, stride 1, the factorised method, more
    than one time tap, batch items on parallel threads (as
    :func:`~wavelet_networks.functional._threads.batch_parallel`) and products
    of the sizes measured faster than oneDNN's ``conv1d`` (``PRODUCT_CHANNELS``,
    ``PRODUCT_OUTPUT``).
    """
    c_out, c_in, m, k = weight.shape
    if not (
        ITEMWISE and x.device.type == "cpu" and not torch.compiler.is_compiling()
        and stride == 1 and k > 1 and x.shape[0] > 1
        and torch.get_num_threads() > 1 and x[0].numel() >= _threads.MIN_ITEM
        and c_in * m >= PRODUCT_CHANNELS and c_out * x.shape[-1] <= PRODUCT_OUTPUT
    ):  # fmt: skip
        return False
    scales = x.shape[2] - m + 1 if scale_boundary == "crop" else x.shape[2]
    grid = [base**j for j in range(scales)]
    return _choose(method, grid, c_in * m, c_out, k, x.shape[-1]) == "factorized"


ITEMWISE = True  # off: the input-side factorised form everywhere (for A/B measurements)


def _group_conv(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    base: float,
    spline_order: int,
    scale_boundary: str,
    stride: int,
    padding: str,
    method: str,
) -> Tensor:
    """:func:`group_conv1d` on checked arguments."""
    c_out, c_in, m, k = weight.shape
    num_scales = x.shape[2]
    if scale_boundary == "crop":
        out_scales = num_scales - m + 1
    else:
        out_scales = num_scales
        x = F.pad(x, (0, 0, 0, m - 1))
    grid = [base**j for j in range(out_scales)]
    pads = _paddings(k, grid, spline_order, x.shape[-1], padding)
    chosen = _choose(method, grid, c_in * m, c_out, k, x.shape[-1])
    if k == 1:  # pointwise in time: a (M x 1) convolution over (scale, time)
        out = F.conv2d(x, weight, stride=(1, stride))
    elif chosen == "factorized":
        w = weight.reshape(c_out, c_in * m, k)
        ys = _factorized(x, w, round(base), out_scales, spline_order, padding, stride, m)
        out = torch.stack(ys, dim=2)
    else:
        batch, _, _, time = x.shape
        xs = [x[:, :, j : j + m].reshape(batch, c_in * m, time) for j in range(out_scales)]
        w = weight.reshape(c_out, c_in * m, k)
        ys = _sampled(xs, w, grid, spline_order, pads, stride, chosen == "fft")
        out = torch.stack(ys, dim=2)
    return out if bias is None else out + bias[:, None, None]


def _check_weight(weight: Tensor, ndim: int, layout: str) -> None:
    if weight.dim() != ndim:
        raise ValueError(
            f"weight must have {ndim} dimensions {layout}, got shape {tuple(weight.shape)}"
        )

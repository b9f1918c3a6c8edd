"""Cross-correlation through the FFT (overlap-save), for long kernels and few input channels.

The cost per output sample and output channel is an inverse FFT share plus
one complex product per input channel, independent of the kernel length, so
it wins over a direct convolution when kernels are long (a lifting layer's
79 taps) and input channels few.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from wavelet_networks.functional.reference import kernel_extent, spline_kernel
from wavelet_networks.grid import ScaleGrid

__all__ = [
    "cheaper",
    "fft_block_size",
    "fft_correlate",
    "group_applies",
    "group_conv1d",
    "lifting_applies",
    "lifting_conv1d",
]

_MIN_BLOCK = 1024


def _next_fast(n: int) -> int:
    """Smallest ``2^a 3^b 5^c >= n`` (sizes that the FFT libraries handle fastest)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def fft_block_size(kernel_length: int, output_length: int) -> int:
    """FFT length for overlap-save: about 4 kernel lengths (>= 1024), at most one block."""
    whole = _next_fast(output_length + kernel_length - 1)
    return min(whole, _next_fast(max(_MIN_BLOCK, 4 * kernel_length)))


def fft_correlate(x: Tensor, kernel: Tensor, stride: int = 1) -> Tensor:
    """Valid cross-correlation, like ``F.conv1d(x, kernel, stride=stride)``, via overlap-save FFTs.

    Args:
        x: ``(B, C_in, L)``.
        kernel: ``(C_out, C_in, L_k)`` with ``L_k <= L``.
        stride: output step.

    Returns:
        ``(B, C_out, ceil((L - L_k + 1) / stride))``; differentiable in both arguments.
    """
    batch, c_in, length = x.shape
    c_out, _, taps = kernel.shape
    out_len = length - taps + 1
    n = fft_block_size(taps, out_len)
    hop = n - taps + 1
    blocks = -(-out_len // hop)
    x = F.pad(x, (0, blocks * hop + taps - 1 - length))
    spectra = torch.fft.rfft(x.unfold(-1, n, hop), n=n)  # (B, C_in, blocks, F)
    k_spec = torch.fft.rfft(kernel, n=n).conj()  # (C_out, C_in, F): correlation
    if c_in == 1:
        prod = spectra[:, None, 0] * k_spec[None, :, 0, None]  # (B, C_out, blocks, F)
    else:
        prod = torch.einsum("bcnf,ocf->bonf", spectra, k_spec)
    y = torch.fft.irfft(prod, n=n)[..., :hop]  # (B, C_out, blocks, hop)
    y = y.reshape(batch, c_out, blocks * hop)[..., :out_len]
    return y if stride == 1 else y[..., ::stride]


# --------------------------------------------------------------------------- the implementations
def cheaper(scales: list[float], c_eff: int, c_out: int, k: int, length: int) -> bool:
    """Whether the FFT path is cheaper than the factorised one (integer scales) or the sampled one.

    A cost model in CPU nanoseconds per output sample and output channel, measured on
    a 2-core AMD EPYC (torch 2.13, one thread) at the W-M11 lifting shape, forward
    pass: a dilated ``conv1d`` runs at about 8 GMAC/s, so the factorised path costs
    ``C_eff * K / 8`` (the sampled kernel ``C_eff * taps_s / 8`` with its ``taps_s``);
    the FFT path about 9 ns (inverse FFT, slicing) plus 5 ns per input channel (complex
    product), times the overlap-save redundancy ``n / hop``. With these numbers the
    factorised path wins for a lifting layer's 79 taps on one channel (10 against 15 ns);
    the FFT wins for non-integer bases at coarse scales.
    """
    integer = all(float(s).is_integer() for s in scales)
    direct = fft = 0.0
    for s in scales:
        taps = sum(kernel_extent(k, s, 2)) + 1
        direct += c_eff * (k if integer else taps) / 8.0
        n = fft_block_size(taps, length)
        fft += n / max(1, n - taps + 1) * (9.0 + 5.0 * c_eff + 9.0 * c_eff / c_out)
    return fft < direct


def _correlate_scales(inputs: list[Tensor], weight: Tensor, scales: list[float], order: int,
                      padding: str, stride: int) -> Tensor:  # fmt: skip
    """``(B, C_out, S, T')``: input ``i`` correlated with ``psi`` at scale ``i`` via FFTs."""
    k, time = weight.shape[-1], inputs[0].shape[-1]
    extents = [kernel_extent(k, s, order) for s in scales]
    left, right = max(e[0] for e in extents), max(e[1] for e in extents)
    ys = []
    for x, s, (lx, rx) in zip(inputs, scales, extents, strict=True):
        x = F.pad(x, (lx, rx)) if padding == "same" else x[..., left - lx : time - (right - rx)]
        ys.append(fft_correlate(x, spline_kernel(weight, s, order), stride))
    return torch.stack(ys, dim=2)


def lifting_applies(x: Tensor, weight: Tensor, scales: ScaleGrid, bias: Tensor | None = None, *,
                    spline_order: int = 2, stride: int = 1, padding: str = "same",
                    method: str = "auto") -> bool:  # fmt: skip
    """``method="fft"``, or "auto" where :func:`cheaper` says so (more than one tap)."""
    c_out, c_in, k = weight.shape
    if k == 1 or method not in ("auto", "fft"):
        return False
    return method == "fft" or cheaper(list(scales), c_in, c_out, k, x.shape[-1])


def lifting_conv1d(x: Tensor, weight: Tensor, scales: ScaleGrid, bias: Tensor | None = None, *,
                   spline_order: int = 2, stride: int = 1, padding: str = "same",
                   method: str = "auto") -> Tensor:  # fmt: skip
    """:func:`~wavelet_networks.functional.reference.lifting_conv1d` through FFTs."""
    grid = list(scales)
    out = _correlate_scales([x] * len(grid), weight, grid, spline_order, padding, stride)
    return out if bias is None else out + bias[:, None, None]


def group_applies(x: Tensor, weight: Tensor, base: float = 2.0, bias: Tensor | None = None, *,
                  spline_order: int = 2, scale_boundary: str = "crop", stride: int = 1,
                  padding: str = "same", method: str = "auto") -> bool:  # fmt: skip
    """``method="fft"``, or "auto" where :func:`cheaper` says so (more than one time tap)."""
    c_out, c_in, m, k = weight.shape
    if k == 1 or method not in ("auto", "fft"):
        return False
    out_scales = x.shape[2] - m + 1 if scale_boundary == "crop" else x.shape[2]
    grid = [base**j for j in range(out_scales)]
    return method == "fft" or cheaper(grid, c_in * m, c_out, k, x.shape[-1])


def group_conv1d(x: Tensor, weight: Tensor, base: float = 2.0, bias: Tensor | None = None, *,
                 spline_order: int = 2, scale_boundary: str = "crop", stride: int = 1,
                 padding: str = "same", method: str = "auto") -> Tensor:  # fmt: skip
    """:func:`~wavelet_networks.functional.reference.group_conv1d` through FFTs."""
    c_out, c_in, m, k = weight.shape
    if scale_boundary == "truncate":
        x = F.pad(x, (0, 0, 0, m - 1))
    batch, _, num_scales, time = x.shape
    grid = [base**j for j in range(num_scales - m + 1)]
    inputs = [x[:, :, j : j + m].reshape(batch, c_in * m, time) for j in range(len(grid))]
    out = _correlate_scales(inputs, weight.reshape(c_out, c_in * m, k), grid, spline_order,
                            padding, stride)  # fmt: skip
    return out if bias is None else out + bias[:, None, None]

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

__all__ = ["fft_block_size", "fft_correlate"]

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

"""Dense matrix products on the CPU: MKL's or oneDNN's, whichever measured faster.

``torch.mm`` on the CPU is MKL's ``sgemm``, which on AMD processors runs its
AVX2 code: on a 2-core AMD EPYC (Zen 5) a 4096^3 matmul ran at 89 GMAC/s, and oneDNN's matrix product (the one torch's oneDNN
linear layer calls) at 188 (``wavelet-networks bench``, its matmul reference);
on Intel both run AVX-512. :func:`mm` times both on its first calls per shape
(:mod:`~wavelet_networks.functional.fast._autotune`) and keeps the faster.
oneDNN takes float32 (and lower precisions) only; float64, other devices and
builds without oneDNN use ``torch.mm``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from wavelet_networks.functional.fast import _autotune

__all__ = ["linear", "mm", "onednn_available", "onednn_weight"]

_LINEAR = getattr(torch.ops.mkldnn, "_linear_pointwise", None)


def onednn_available(x: Tensor) -> bool:
    """Whether oneDNN's product takes ``x`` (float32 on the CPU, oneDNN built and enabled)."""
    return (
        _LINEAR is not None
        and x.dtype == torch.float32
        and x.device.type == "cpu"
        and torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
        and not torch.compiler.is_compiling()
    )


def linear(x: Tensor, w: Tensor) -> Tensor:
    """oneDNN's ``x @ w.T`` (``(m, k) x (n, k)``, float32; ``w`` contiguous or the transpose
    of a contiguous tensor), into a fresh tensor; only where :func:`onednn_available`."""
    return _LINEAR(x, w, None, "none", [], "")


def onednn_weight(t: Tensor) -> Tensor | None:
    """``t`` ``(k, n)`` as oneDNN's product reads it (``(n, k)``, contiguous), or ``None``
    where :func:`mm` will not use oneDNN."""
    return t.t().contiguous() if onednn_available(t) else None


def mm(x: Tensor, t: Tensor, t_rows: Tensor | None, out: Tensor, name: str) -> Tensor:
    """``x @ t`` ``(m, k) x (k, n)``: MKL's product into the front of the buffer ``out``,
    or oneDNN's (into a fresh tensor), whichever measured faster for the shape.

    ``t_rows`` is :func:`onednn_weight` of ``t`` (``None``: MKL's only); ``name``
    names the caller's products in the timing key.
    """
    m, n = x.shape[0], t.shape[1]

    def mkl() -> Tensor:
        return torch.mm(x, t, out=out[: m * n].view(m, n))

    if t_rows is None or not onednn_available(x):
        return mkl()

    def onednn() -> Tensor:
        return linear(x, t_rows)

    key = (name, *x.shape, n, x.stride(0), torch.get_num_threads())
    return _autotune.run(key, (mkl, onednn))

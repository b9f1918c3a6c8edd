"""Compiled loops for the memory-bound inner work (``_native.c``), built once per machine.

- The fused lifting (:mod:`~wavelet_networks.functional.pooled`) pools every
  matrix product while it is in cache, and in the backward pass writes the
  pooled gradient back into the product's shape. In torch operations each
  passes over the product several times (a tournament of ``maximum`` and
  comparisons; zeros and a scatter); here once.
- The fused stem's per-row work (:mod:`~wavelet_networks.functional.stem`):
  batch statistics, the second pool, the gradient row.
- The smoothing steps of the "a trous" cascade and their adjoint
  (:mod:`~wavelet_networks.functional.smoothing`): one pass instead of one
  per tap.

They are plain C on raw pointers, so building them takes the C compiler about
a second and needs no torch headers; ctypes calls them and releases the GIL,
so the batch threads of :mod:`~wavelet_networks.functional._threads` run them
in parallel. Each caller keeps its torch-operation path, used where the loops
do not apply (no compiler, another dtype or device, ``torch.compile``);
``tests/core/test_native.py`` checks that both give the same results.

The library is compiled on first use with ``$CC`` (else ``cc``) and kept in
``$WAVELET_NETWORKS_CACHE/native`` (default ``~/.cache/wavelet_networks``),
under a name that hashes the source, the compiler and the platform. Where no
compiler works, a warning says why once and the torch operations are used:
the results are the same. ``WAVELET_NETWORKS_NATIVE=0`` turns the loops off.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor

from wavelet_networks._machine import default_cache_dir

__all__ = [
    "available",
    "library",
    "smooth",
    "smooth_adjoint",
    "smoothable",
    "stem_grad_row",
    "stem_row",
    "use_native",
    "window_max",
    "window_unmax",
]

SOURCE = Path(__file__).with_name("_native.c")
FLAGS = ("-O3", "-shared", "-fPIC")
DTYPES = {torch.float32: "f32", torch.float64: "f64"}

_enabled = True  # see use_native


def _compiler() -> str | None:
    return (
        os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    )


def _compile(cc: str, target: str) -> None:
    """Compile ``_native.c`` to ``target``; without the x86-64 AVX2 clones if the compiler cannot."""
    errors = []
    for extra in ((), ("-DWN_NO_CLONES",)):
        cmd = [cc, *FLAGS, *extra, str(SOURCE), "-o", target]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if done.returncode == 0:
            return
        errors.append(
            f"{' '.join(cmd)} failed (exit {done.returncode}): {done.stderr.strip()[:1000]}"
        )
    raise OSError("; ".join(errors))


def _build(cc: str) -> Path:
    """Compile ``_native.c`` into the cache and return the library's path.

    The cache is ``$WAVELET_NETWORKS_CACHE/native``, else (not writable) the
    temporary directory. Written under a temporary name and renamed, so that
    processes starting together (data-parallel ranks) never load half a file.
    """
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60).stdout
    key = hashlib.sha256(
        SOURCE.read_bytes()
        + "\0".join([cc, version, *FLAGS, sys.platform, platform.machine()]).encode()
    ).hexdigest()[:16]
    name = f"wn_native-{key}.so"
    user = os.getuid() if hasattr(os, "getuid") else 0
    places = [
        default_cache_dir() / "native",
        Path(tempfile.gettempdir()) / f"wavelet_networks-{user}",
    ]
    for directory in places:
        if (directory / name).exists():
            return directory / name
    for directory in places:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".so", dir=directory)
        except OSError:
            continue
        os.close(fd)
        try:
            _compile(cc, tmp)
            os.replace(tmp, directory / name)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return directory / name
    tried = ", ".join(map(str, places))
    raise OSError(f"no writable directory for the compiled library (tried {tried})")


@functools.cache
def library() -> ctypes.CDLL | None:
    """The compiled loops, or ``None`` (turned off, or no working C compiler; warns once)."""
    if os.environ.get("WAVELET_NETWORKS_NATIVE", "1") == "0":
        return None
    cc = _compiler()
    try:
        if cc is None:
            raise OSError("no C compiler found (set CC, or install cc, gcc or clang)")
        lib = ctypes.CDLL(str(_build(cc)))
    except (OSError, subprocess.SubprocessError) as error:
        warnings.warn(
            f"wavelet-networks: the compiled loops are unavailable ({error}); the fused "
            "lifting layers and the smoothing cascade use torch operations instead "
            "(same results, slower). "
            "Set WAVELET_NETWORKS_NATIVE=0 to silence this.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    p, i = ctypes.c_void_p, ctypes.c_long
    for suffix in DTYPES.values():
        f = getattr(lib, f"wn_max_{suffix}")
        f.argtypes, f.restype = [p, p, *[i] * 8, p, i, i, i, i, p], None
        f = getattr(lib, f"wn_unmax_{suffix}")
        f.argtypes, f.restype = [p, i, i, i, i, p, *[i] * 5, p, p, i, i, i], None
        f = getattr(lib, f"wn_smooth_{suffix}")
        f.argtypes, f.restype = [p, *[i] * 6, p, p, i, i, p], None
        f = getattr(lib, f"wn_smooth_adjoint_{suffix}")
        f.argtypes, f.restype = [p, i, i, i, i, p, p, i, p, i, i, i, i], None
        f = getattr(lib, f"wn_stem_row_{suffix}")
        f.argtypes = [p, i, i, i, i, p, p, ctypes.c_int, p, p, p, i, p, i]
        f.restype = None
        f = getattr(lib, f"wn_stem_grad_row_{suffix}")
        f.argtypes, f.restype = [p, i, i, i, p, p, p, i, p, i, i, i, p, p, i], None
    return lib


@contextlib.contextmanager
def use_native(enabled: bool) -> Iterator[None]:
    """Turn the compiled loops on or off in this process (for tests and A/B measurements)."""
    global _enabled
    before, _enabled = _enabled, enabled
    try:
        yield
    finally:
        _enabled = before


def available(dtype: torch.dtype, device: torch.device) -> bool:
    """Whether the compiled loops apply to tensors of this type (and are turned on).

    Not while ``torch.compile`` traces: the torch operations are what it can fuse.
    """
    if not _enabled or torch.compiler.is_compiling():
        return False
    return device.type == "cpu" and dtype in DTYPES and library() is not None


def _outer(t: Tensor) -> tuple[list[int], list[int]]:
    """Shape and strides of ``t`` without its last axis, padded to three axes."""
    pad = 4 - t.dim()
    assert 0 <= pad < 4
    return [1] * pad + list(t.shape[:-1]), [0] * pad + list(t.stride()[:-1])


def _entries(entries: list[Tensor]) -> tuple[ctypes.Array, list[int]]:
    """The entries' offsets from the first, as a C ``long`` array, and their common strides.

    The entries: views of one tensor, of one shape ``(..., C)`` (at most
    three outer axes) and one set of strides, the channels contiguous.
    """
    first = entries[0]
    assert all(e.shape == first.shape and e.stride() == first.stride() for e in entries)
    assert first.stride(-1) == 1 and len(entries) < 256
    start = first.storage_offset()
    offsets = (ctypes.c_long * len(entries))(*(e.storage_offset() - start for e in entries))
    return offsets, _outer(first)[1]


def window_max(entries: list[Tensor], best: Tensor) -> Tensor:
    """Write the elementwise maximum of a window's ``entries`` into ``best``; return the argmax.

    As :func:`~wavelet_networks.functional.pooled._tournament`: NaN wins, else
    the first of ties. ``best``: any view of the entries' shape; the index of
    the entry each maximum came from is returned contiguous, uint8.
    """
    first = entries[0]
    assert best.shape == first.shape and best.dtype == first.dtype
    offsets, (s0, s1, s2) = _entries(entries)
    (n0, n1, n2), (b0, b1, b2) = _outer(best)
    off = torch.empty(first.shape, dtype=torch.uint8)
    fn = getattr(library(), f"wn_max_{DTYPES[first.dtype]}")
    fn(first.data_ptr(), offsets, len(entries), n0, n1, n2, s0, s1, s2, first.shape[-1],
       best.data_ptr(), b0, b1, b2, best.stride(-1), off.data_ptr())  # fmt: skip
    return off


def window_unmax(grad: Tensor, off: Tensor, entries: list[Tensor]) -> None:
    """Adjoint of :func:`window_max`: write ``grad`` into entry ``off``, zeros into the others.

    ``grad``: any view of the entries' shape; ``off``: contiguous uint8 of
    that shape; ``entries``: views of the tensor written into.
    """
    first = entries[0]
    assert off.is_contiguous() and grad.shape == first.shape == off.shape
    offsets, (s0, s1, s2) = _entries(entries)
    (n0, n1, n2), (g0, g1, g2) = _outer(grad)
    fn = getattr(library(), f"wn_unmax_{DTYPES[grad.dtype]}")
    fn(grad.data_ptr(), g0, g1, g2, grad.stride(-1), off.data_ptr(), len(entries), n0, n1, n2,
       first.shape[-1], first.data_ptr(), offsets, s0, s1, s2)  # fmt: skip


def _taps(taps: list[float], dilation: int) -> tuple[ctypes.Array, ctypes.Array, int]:
    """The non-zero taps and their time shifts as C arrays (zero taps are skipped, as in torch)."""
    kept = [(c, i * dilation) for i, c in enumerate(taps) if c != 0.0]
    h = (ctypes.c_double * len(kept))(*(c for c, _ in kept))
    shift = (ctypes.c_long * len(kept))(*(s for _, s in kept))
    return h, shift, len(kept)


def smoothable(x: Tensor) -> bool:
    """Whether :func:`smooth` and :func:`smooth_adjoint` apply to rows laid out as ``x``."""
    return 2 <= x.dim() <= 4 and x.stride(-1) == 1 and available(x.dtype, x.device)


def smooth(x: Tensor, taps: list[float], dilation: int, out_len: int) -> Tensor:
    """``out[..., t] = sum_i taps[i] x[..., t + i dilation]`` for ``t < out_len``, contiguous.

    ``x``: ``(..., L)``, at most three outer axes with any strides, times
    contiguous; at least one tap non-zero.
    """
    h, shift, n = _taps(taps, dilation)
    assert n > 0 and smoothable(x)
    out = x.new_empty((*x.shape[:-1], out_len))
    (n0, n1, n2), (s0, s1, s2) = _outer(x)
    fn = getattr(library(), f"wn_smooth_{DTYPES[x.dtype]}")
    fn(x.data_ptr(), n0, n1, n2, s0, s1, s2, h, shift, n, out_len, out.data_ptr())
    return out


def smooth_adjoint(
    grad: Tensor, taps: list[float], dilation: int, target: Tensor, zero: bool
) -> None:
    """``target[..., t + i dilation] += taps[i] grad[..., t]``: the adjoint of :func:`smooth`.

    ``zero``: set ``target`` to that (every time of it) instead of adding.
    ``target``: rows laid out as for :func:`smooth`.
    """
    h, shift, n = _taps(taps, dilation)
    assert smoothable(target) and grad.shape[:-1] == target.shape[:-1]
    grad = grad.contiguous()
    (n0, n1, n2), (t0, t1, t2) = _outer(target)
    fn = getattr(library(), f"wn_smooth_adjoint_{DTYPES[grad.dtype]}")
    fn(grad.data_ptr(), n0, n1, n2, grad.shape[-1], h, shift, n, target.data_ptr(),
       t0, t1, t2, target.shape[-1] if zero else 0)  # fmt: skip


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def stem_row(
    row: Tensor,
    pool: int,
    sign: Tensor | None,
    flat: Tensor | None,
    mean: Tensor | None,
    var: Tensor | None,
    m2: Tensor,
    off2: Tensor,
) -> None:
    """The fused stem's forward work on one row of the pooled lifting (see ``stem.py``).

    ``row`` ``(C, n)``: each channel's mean and variance into ``mean`` and
    ``var`` (float64 ``(C,)``; skipped when ``None``), and the maxima of
    ``sign * row`` over windows of ``pool`` into ``m2`` with their offsets in
    ``off2`` (uint8), both ``(C, n // pool)``; channels where ``flat``
    (uint8 ``(C,)``) take each window's first entry. Every time axis contiguous.
    """
    c, n = row.shape
    assert row.stride(1) == m2.stride(1) == off2.stride(1) == 1 and m2.dtype == row.dtype
    assert (mean is None) == (var is None) and (mean is None or mean.dtype == torch.float64)
    fn = getattr(library(), f"wn_stem_row_{DTYPES[row.dtype]}")
    fn(row.data_ptr(), c, row.stride(0), n, pool, _ptr(sign), _ptr(flat), int(mean is not None),
       _ptr(mean), _ptr(var), m2.data_ptr(), m2.stride(0), off2.data_ptr(), off2.stride(0))  # fmt: skip


def stem_grad_row(
    m1: Tensor,
    slope: Tensor | None,
    offset: Tensor | None,
    grad: Tensor,
    off2: Tensor,
    pool: int,
    coef: Tensor,
    out: Tensor,
) -> None:
    """The fused stem's gradient at one row of the pooled lifting (see ``stem.py``).

    ``out[c, t] = offset[c] + slope[c] m1[c, t]`` (zero when ``slope`` is
    ``None``), then ``out[c, pool tau + off2[c, tau]] += coef[c] grad[c, tau]``.
    ``m1``, ``out`` ``(C, n)``; ``grad``, ``off2`` ``(C, n // pool)``; ``slope``,
    ``offset``, ``coef`` contiguous ``(C,)``. Every time axis contiguous.
    """
    c, n = out.shape
    assert m1.stride(1) == grad.stride(1) == off2.stride(1) == out.stride(1) == 1
    fn = getattr(library(), f"wn_stem_grad_row_{DTYPES[out.dtype]}")
    fn(m1.data_ptr(), m1.stride(0), c, n, _ptr(slope), _ptr(offset), grad.data_ptr(),
       grad.stride(0), off2.data_ptr(), off2.stride(0), grad.shape[1], pool, coef.data_ptr(),
       out.data_ptr(), out.stride(0))  # fmt: skip

"""Compiled loops for the memory-bound inner work (``_native.c``), built once per machine.

- The fused lifting (:mod:`~wavelet_networks.functional.fast.pooled`) pools every
  matrix product while it is in cache, and in the backward pass forms the
  weight gradient from the windows' maxima alone (:func:`pool_grad`; or
  writes the pooled gradient back into the product's shape, :func:`unpool`).
  In torch operations each passes over the product several times (a
  tournament of ``maximum`` and comparisons; zeros and a scatter); here
  once, a tile of windows at a time.
- The fused stem's work (:mod:`~wavelet_networks.functional.fast.stem`) inside the
  same loops: the batch statistics and the second pool of each tile of pooled
  values, and in the backward pass the gradient at those values.
- The smoothing steps of the "a trous" cascade and their adjoint
  (:mod:`~wavelet_networks.functional.fast.cascade`): one pass instead of one
  per tap.
- Max pooling over time (:mod:`~wavelet_networks.functional.fast.pooling`) with
  one-byte offsets.

They are plain C on raw pointers, so building them takes the C compiler about
a second and needs no torch headers; ctypes calls them and releases the GIL,
so the batch threads of :mod:`~wavelet_networks.functional.fast._threads` run them
in parallel. Each caller keeps its torch-operation path, used where the loops
do not apply (no compiler, another dtype or device, ``torch.compile``);
``tests/core/test_native.py`` checks that both give the same results.

The library is compiled on first use with ``$CC`` (else ``cc``) for the CPU
it runs on (``-march=native``; where the compiler rejects that, for its
default target) and kept in ``$WAVELET_NETWORKS_CACHE/native`` (default
``~/.cache/wavelet_networks``), under a name that hashes the source, the
compiler, the flags and the CPU's model and feature flags, so that machines
sharing a home directory each build their own. Where no compiler works, a
warning says why once and the torch operations are used: the results are the
same. ``WAVELET_NETWORKS_NATIVE=0`` turns the loops off.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor

from wavelet_networks import settings
from wavelet_networks._machine import cpu_features, default_cache_dir

__all__ = [
    "SecondPool",
    "StemGradient",
    "available",
    "library",
    "pool",
    "pool_grad",
    "smooth",
    "smooth_adjoint",
    "smoothable",
    "time_max",
    "time_unmax",
    "unpool",
]

SOURCE = Path(__file__).with_name("_native.c")
FLAGS = ("-O3", "-shared", "-fPIC")
NATIVE = ("-march=native",)  # the widest vectors this CPU has; dropped where not accepted
DTYPES = {torch.float32: "f32", torch.float64: "f64"}

def _compiler() -> str | None:
    return (
        os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    )


def _compile(cc: str, target: str) -> None:
    """Compile ``_native.c`` to ``target`` for this CPU (``-march=native``), else generic."""
    errors = []
    for extra in (NATIVE, ()):
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
    # built for this CPU: another one (a shared home directory on a cluster) gets its own
    key = hashlib.sha256(
        SOURCE.read_bytes()
        + "\0".join([cc, version, *FLAGS, *NATIVE, sys.platform, cpu_features()]).encode()
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
        f = getattr(lib, f"wn_pool_{suffix}")
        f.argtypes = [p, *[i] * 6, p, i, i, p, i, p, p, i, p, p, i, p, i, p]
        f.restype = ctypes.c_int
        f = getattr(lib, f"wn_unpool_{suffix}")
        f.argtypes, f.restype = [p, *[i] * 6, p, p, i, i, p, i, i, p, p, p, i, p], ctypes.c_int
        f = getattr(lib, f"wn_pool_grad_{suffix}")
        f.argtypes = [p, p, *[i] * 10, p, p, i, i, p, i, i, p, p, p, i, p]
        f.restype = ctypes.c_int
        f = getattr(lib, f"wn_time_max_{suffix}")
        f.argtypes, f.restype = [p, *[i] * 6, p, i, i, p, p, p, p, p, i], ctypes.c_int
        f = getattr(lib, f"wn_time_unmax_{suffix}")
        f.argtypes, f.restype = [p, *[i] * 6, p, p, i, i, i, p, i, i, p, p], ctypes.c_int
        f = getattr(lib, f"wn_smooth_{suffix}")
        f.argtypes, f.restype = [p, *[i] * 6, p, p, i, i, p], None
        f = getattr(lib, f"wn_smooth_adjoint_{suffix}")
        f.argtypes, f.restype = [p, i, i, i, i, p, p, i, p, i, i, i, i], None
    return lib


def available(dtype: torch.dtype, device: torch.device) -> bool:
    """Whether the compiled loops apply to tensors of this type (and are turned on:
    ``wavelet_networks.settings``, ``native``).

    Not while ``torch.compile`` traces: the torch operations are what it can fuse.
    """
    if not settings.current().native or torch.compiler.is_compiling():
        return False
    return device.type == "cpu" and dtype in DTYPES and library() is not None


def _outer(t: Tensor) -> tuple[list[int], list[int]]:
    """Shape and strides of ``t`` without its last axis, padded to three axes."""
    pad = 4 - t.dim()
    assert 0 <= pad < 4
    return [1] * pad + list(t.shape[:-1]), [0] * pad + list(t.stride()[:-1])


class SecondPool(NamedTuple):
    """The fused stem's work in :func:`pool` on one row (batch item, scale) of the pooled lifting.

    ``pool``: the second pool's window ``P2``; ``sign`` (``(C,)`` or ``None``):
    the second pool takes the maxima of ``sign * pooled``; ``flat`` (uint8
    ``(C,)`` or ``None``): channels that take every window's first entry;
    ``mean``, ``msq`` (float64 ``(C,)``, or ``None`` for no statistics): the
    row's running mean and sum of squared deviations over its first
    ``count`` pooled values, updated in place; ``out``, ``off``: ``(C, n2)``
    (values, time contiguous; uint8 offsets, channels last) for the
    product's second-pool windows.
    """

    pool: int
    sign: Tensor | None
    flat: Tensor | None
    count: int
    mean: Tensor | None
    msq: Tensor | None
    out: Tensor
    off: Tensor


class StemGradient(NamedTuple):
    """The fused stem's gradient in :func:`unpool` on one row of the pooled lifting.

    The gradient at pooled value ``(c, i)`` is ``offset[c] + slope[c] m1[c, i]``
    (zero when ``slope`` is ``None``) plus ``coef[c] grad[c, k]`` where the
    second pool's window ``k`` (of ``pool``) took its maximum at ``i``
    (``off[c, k]``). ``m1`` ``(C, n)`` (time contiguous or channels last),
    ``off`` uint8 and ``grad`` ``(C, n2)``, both channels last; ``slope``,
    ``offset``, ``coef`` contiguous ``(C,)``.
    """

    pool: int
    m1: Tensor
    slope: Tensor | None
    offset: Tensor | None
    coef: Tensor
    off: Tensor


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _channels_last(t: Tensor) -> bool:
    """Whether ``(C, n)`` rows are one contiguous ``(n, C)`` block (the stride of an axis of
    length one is never used)."""
    c, n = t.shape
    return (c == 1 or t.stride(0) == 1) and (n == 1 or t.stride(1) == c)


def _rows_layout(t: Tensor) -> bool:
    """Whether ``(C, n)`` rows are time contiguous or channels last (the two the loops take)."""
    return t.shape[1] == 1 or t.stride(1) == 1 or _channels_last(t)


def _check(status: int) -> None:
    if status != 0:
        raise MemoryError("wavelet-networks: a compiled pooling loop could not allocate scratch")


def pool(
    y: Tensor, d: int, nq: int, block: int, size: int, dest: Tensor, off: Tensor,
    second: SecondPool | None = None,
) -> None:  # fmt: skip
    """Max-pool one product ``Y`` of the fused lifting over windows of ``size`` times.

    ``y``: contiguous ``(d * nq, block * C)``, rows (phase, q), columns (r, c),
    time ``d (block q + r) + phase`` (see ``pooled.py``). The maxima of the
    first ``dest.shape[1]`` windows go to ``dest`` ``(C, n)`` (time contiguous);
    the offsets of every window's maximum (NaN wins, else the first of ties,
    as ``max_pool1d``) to ``off``, contiguous uint8 in the window layout of
    ``pooled._window``. ``second``: the fused stem's work on the pooled values.
    """
    c = dest.shape[0]
    assert y.is_contiguous() and off.is_contiguous() and off.dtype == torch.uint8
    assert _rows_layout(dest) and dest.dtype == y.dtype and y.shape[1] == block * c
    assert off.numel() == y.numel() // size
    p2 = sign = flat = mean = msq = out2 = off2 = None
    count = n2 = o2s = 0
    if second is not None:
        p2, count, out2, off2 = second.pool, second.count, second.out, second.off
        sign, flat, mean, msq = second.sign, second.flat, second.mean, second.msq
        assert out2.stride(1) == 1 and _channels_last(off2) and out2.shape == off2.shape
        assert (mean is None) == (msq is None) and (mean is None or mean.dtype == torch.float64)
        n2, o2s = out2.shape[1], out2.stride(0)
    fn = getattr(library(), f"wn_pool_{DTYPES[y.dtype]}")
    _check(fn(y.data_ptr(), d, nq, block, c, size, dest.shape[1], dest.data_ptr(), *dest.stride(),
              off.data_ptr(), p2 or 0, _ptr(sign), _ptr(flat), count, _ptr(mean), _ptr(msq), n2,
              _ptr(out2), o2s, _ptr(off2)))  # fmt: skip


def unpool(
    dy: Tensor, d: int, nq: int, block: int, size: int, off: Tensor, grad: Tensor,
    stem: StemGradient | None = None,
) -> None:  # fmt: skip
    """Adjoint of :func:`pool`: write ``dY`` (every entry) from the pooled gradient.

    Each window's gradient goes to the offset of its maximum, zeros elsewhere.
    ``dy``: contiguous, the product's shape; ``off``: as :func:`pool` wrote it.
    The gradient of window ``i``: ``grad[c, i]`` ``(C, n)`` (zero from ``n``
    on); with ``stem``, that of :class:`StemGradient`, ``grad`` then being the
    gradient at the second pool's output ``(C, n2)``.
    """
    c = grad.shape[0]
    assert dy.is_contiguous() and off.is_contiguous() and dy.dtype == grad.dtype
    assert off.numel() * size == dy.numel()
    n, *rest = _gradient_args(grad, stem)
    fn = getattr(library(), f"wn_unpool_{DTYPES[dy.dtype]}")
    _check(fn(dy.data_ptr(), d, nq, block, c, size, n, off.data_ptr(), *rest))


def _gradient_args(grad: Tensor, stem: StemGradient | None) -> tuple:
    """The window gradients' arguments of ``wn_unpool`` and ``wn_pool_grad``."""
    if stem is None:
        assert grad.stride(1) == 1
        return grad.shape[1], grad.data_ptr(), grad.stride(0), 0, None, 0, 0, None, None, None, 0, None
    m1, off2 = stem.m1, stem.off
    assert _rows_layout(m1) and _channels_last(off2) and _channels_last(grad)
    assert off2.shape == grad.shape
    return (m1.shape[1], grad.data_ptr(), 0, stem.pool, m1.data_ptr(), *m1.stride(),
            _ptr(stem.slope), _ptr(stem.offset), stem.coef.data_ptr(), off2.shape[1],
            off2.data_ptr())  # fmt: skip


def pool_grad(
    dw: Tensor, z: Tensor, t0: int, nq: int, block: int, size: int, off: Tensor, grad: Tensor,
    stem: StemGradient | None = None,
) -> None:  # fmt: skip
    """Add one product's weight gradient to ``dw`` straight from its windows' maxima.

    The product of :func:`pool` (``d * nq`` rows; ``d = z.shape[1]``) holds the
    times ``t0 .. t0 + d * block * nq`` of a row whose output is ``y_c[t] =
    sum_{i,k} w[c, i, k] z_i[t + d k]``; ``z`` ``(C_in, d, U)`` contiguous holds
    ``z_i[d u + phase]`` at ``(i, phase, u)`` (``pooled._phases``). A window of
    channel ``c`` with gradient ``g``, its maximum at time ``t`` (``off``, as
    :func:`pool` wrote it), adds ``g z_i[t + d k]`` to ``dw[c, i, k]``: the
    adjoint of the pooled product without forming ``dY``, at ``1 / size`` of the
    dense product's arithmetic. ``dw``: float64 ``(C, C_in, K)``; the window
    gradients as in :func:`unpool`.
    """
    c, c_in, k = dw.shape
    assert dw.dtype == torch.float64 and dw.is_contiguous() and z.is_contiguous()
    assert z.dim() == 3 and z.shape[0] == c_in and z.dtype == grad.dtype and off.is_contiguous()
    assert grad.shape[0] == c
    d, u = z.shape[1], z.shape[2]
    assert off.numel() * size == d * nq * block * c
    assert t0 % (d * block) == 0 and t0 // d + nq * block + k - 1 <= u
    n, *rest = _gradient_args(grad, stem)
    fn = getattr(library(), f"wn_pool_grad_{DTYPES[grad.dtype]}")
    _check(fn(dw.data_ptr(), z.data_ptr(), u, c_in, k, t0, d, nq, block, c, size, n,
              off.data_ptr(), *rest))  # fmt: skip


def _rows2(t: Tensor) -> tuple[int, int, int, int]:
    """Shape and strides of the two outer axes of ``(n0, n1, L)`` rows."""
    assert t.dim() == 3 and t.stride(-1) == 1
    return t.shape[0], t.shape[1], t.stride(0), t.stride(1)


def time_max(
    x: Tensor, size: int, out: Tensor, off: Tensor,
    sign: Tensor | None = None, flat: Tensor | None = None,
    squares: tuple[Tensor, Tensor] | None = None,
) -> None:  # fmt: skip
    """Max-pool rows ``x`` ``(n0, n1, L)`` over windows of ``size`` times (stride ``size``).

    ``out`` ``(n0, n1, n)``, ``n = L // size``, gets the maxima (NaN wins, else the
    first of ties, as ``max_pool1d``); ``off`` (contiguous uint8, that shape) the
    offset of each in its window. Time axes contiguous. ``sign`` (``(n0,)``): pool
    ``sign * x`` instead; ``flat`` (uint8 ``(n0,)``): rows that take every window's
    first entry; ``squares = (mean, sq)``: add the sum of ``(x - mean)**2`` over every
    time of the rows of ``i0`` to ``sq[i0]`` (``mean`` ``(n0,)``, ``sq`` float64).
    """
    n0, n1, x0, x1 = _rows2(x)
    _, _, y0, y1 = _rows2(out)
    assert off.is_contiguous() and off.shape == out.shape and out.dtype == x.dtype
    assert sign is None or (sign.is_contiguous() and sign.shape == (n0,) and sign.dtype == x.dtype)
    assert flat is None or (flat.is_contiguous() and flat.shape == (n0,) and flat.dtype == torch.uint8)
    mean = sq = None
    if squares is not None:
        mean, sq = squares
        assert mean.is_contiguous() and mean.shape == (n0,) and mean.dtype == x.dtype
        assert sq.is_contiguous() and sq.shape == (n0,) and sq.dtype == torch.float64
    fn = getattr(library(), f"wn_time_max_{DTYPES[x.dtype]}")
    _check(fn(x.data_ptr(), n0, n1, x0, x1, out.shape[-1], size, out.data_ptr(), y0, y1,
              off.data_ptr(), _ptr(sign), _ptr(flat), _ptr(mean), _ptr(sq), x.shape[-1]))  # fmt: skip


def time_unmax(
    grad: Tensor, off: Tensor, size: int, out: Tensor,
    affine: tuple[Tensor, Tensor, Tensor] | None = None,
) -> None:  # fmt: skip
    """Adjoint of :func:`time_max`: ``out`` ``(n0, n1, L)`` gets each window's gradient at
    its offset and zeros elsewhere (every entry written).

    ``affine = (x, slope, offset)``: instead of zeros, ``offset + slope * x`` (``x`` rows
    laid out as ``out``, ``slope`` and ``offset`` contiguous ``(n0,)``), the gradients
    added to it.
    """
    n0, n1, g0, g1 = _rows2(grad)
    _, _, x0, x1 = _rows2(out)
    assert off.is_contiguous() and off.shape == grad.shape and out.shape[-1] >= size * grad.shape[-1]
    base, b0, b1, slope, offset = None, 0, 0, None, None
    if affine is not None:
        base, slope, offset = affine
        assert base.shape == out.shape and slope.shape == offset.shape == (n0,)
        assert slope.is_contiguous() and offset.is_contiguous() and slope.dtype == grad.dtype
        _, _, b0, b1 = _rows2(base)
    fn = getattr(library(), f"wn_time_unmax_{DTYPES[grad.dtype]}")
    _check(fn(grad.data_ptr(), n0, n1, g0, g1, grad.shape[-1], size, off.data_ptr(),
              out.data_ptr(), x0, x1, out.shape[-1], _ptr(base), b0, b1, _ptr(slope),
              _ptr(offset)))  # fmt: skip


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

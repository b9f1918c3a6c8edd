"""Process settings for training on a CPU.

A training step of a wavelet network allocates and frees tensors of tens to
hundreds of megabytes (the scale axis multiplies every feature map; W-M11's
first stage holds ``(8, 51, 9, 5512)`` float tensors, 81 MB each). glibc's
``malloc`` serves every block above 32 MB with a fresh ``mmap`` and returns it
to the system when freed, so each step page-faults all of that memory in
again: the kernel zeroes every page before the tensor's first write. On a
2-core AMD EPYC a W-M11 training step took 3.53 s with the system
defaults and 2.91 s with freed memory kept; an M11 step, whose feature maps
are mostly below 32 MB, 0.328 s and 0.323 s (``benchmarks/ab_fast_paths.py
--only keep-memory``, saved in ``benchmarks/results/ab-fast-paths-cpu-2core-epyc.txt``).
:func:`keep_freed_memory` keeps freed blocks in the process for the next
step instead, as the jemalloc or tcmalloc that PyTorch's CPU tuning guide
recommends would. The ``wavelet-networks`` command calls it (set
``WAVELET_NETWORKS_KEEP_MEMORY=0`` to leave the allocator alone); call it
yourself in your own training scripts.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

__all__ = ["keep_freed_memory", "keep_freed_memory_requested", "keeps_freed_memory"]

# mallopt parameters (malloc.h) and glibc's defaults
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_DEFAULT_TRIM, _DEFAULT_MMAP_MAX = 128 * 1024, 65536
_kept = False


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()  # glibc only (musl has no mallopt parameters like these)
    except (OSError, AttributeError):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return libc


def keep_freed_memory(enabled: bool = True) -> bool:
    """Keep memory that large tensors free in this process for reuse (glibc on Linux).

    Sets ``mallopt(M_MMAP_MAX, 0)`` (large blocks come from the heap, not from
    fresh ``mmap`` calls) and a trim threshold of 1 GiB (the heap is not handed
    back to the system after every step). The process then holds on to its
    peak memory between steps. ``enabled=False`` restores glibc's default
    values (though not its dynamic adjustment of the mmap threshold).

    Returns:
        whether the allocator's settings changed (``False`` where this is not glibc).
    """
    global _kept
    libc = _libc()
    if libc is None:
        return False
    mmap_max, trim = (0, 2**30) if enabled else (_DEFAULT_MMAP_MAX, _DEFAULT_TRIM)
    done = libc.mallopt(_M_MMAP_MAX, mmap_max) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, trim) == 1
    if not enabled:
        libc.malloc_trim(0)
    _kept = enabled and done
    return done


def keeps_freed_memory() -> bool:
    """Whether :func:`keep_freed_memory` is in effect in this process."""
    return _kept


def keep_freed_memory_requested() -> bool:
    """Whether the environment leaves :func:`keep_freed_memory` on (``WAVELET_NETWORKS_KEEP_MEMORY``)."""
    return os.environ.get("WAVELET_NETWORKS_KEEP_MEMORY", "1") != "0"

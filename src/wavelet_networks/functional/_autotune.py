"""The faster of interchangeable implementations, chosen by timing their first calls.

Which of MKL's matrix products and oneDNN's convolutions computes a dilated
correlation faster depends on the CPU and on the shape. On AMD Zen 5, MKL's
``sgemm`` runs its AVX2 code (half the machine's peak) while oneDNN's
convolutions run AVX-512 at up to twice its speed, except at some shapes
where they are 2.5 times slower; on an Intel Xeon both run AVX-512. A fixed
rule measured on one machine is wrong on the other, so, as
``torch.backends.cudnn.benchmark`` does on GPUs, :func:`run` times the
candidates on the calls that need them: the first ``TRIALS`` calls of each
candidate for a key take turns (each call is real work and its result is
used), then the candidate with the shortest of them serves every later call
with that key (the minimum: noise from other work on the machine only adds
time, and so does a first call's set-up). The candidates agree up to float rounding; a choice,
once made, stays for the process.

While a key's candidates take turns, repeated calls may differ in the last
bits. ``WAVELET_NETWORKS_AUTOTUNE=0`` in the environment (or ``ENABLED =
False``), and ``torch.use_deterministic_algorithms(True)``, always run the
first candidate, the default path; :func:`forced` runs a given one (for tests
and A/B measurements).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import TypeVar

import torch

__all__ = ["choices", "forced", "reset", "run"]

_R = TypeVar("_R")

TRIALS = 3  # timed calls per candidate
ENABLED = os.environ.get("WAVELET_NETWORKS_AUTOTUNE", "1") != "0"

_lock = threading.Lock()
_times: dict[Hashable, list[list[float]]] = {}
_chosen: dict[Hashable, int] = {}
_forced: int | None = None


def run(key: Hashable, candidates: Sequence[Callable[[], _R]]) -> _R:
    """The result of one of ``candidates`` (all computing the same thing) for ``key``.

    ``key`` names the work up to its data (operation, shapes, dtype, threads):
    calls with one key are assumed to cost the same. Thread-safe; calls from
    several threads time their candidates concurrently, as they run.
    """
    if _forced is not None:
        return candidates[min(_forced, len(candidates) - 1)]()
    if not ENABLED or len(candidates) == 1 or torch.are_deterministic_algorithms_enabled():
        return candidates[0]()
    chosen = _chosen.get(key)
    if chosen is not None:
        return candidates[chosen]()
    with _lock:
        times = _times.setdefault(key, [[] for _ in candidates])
        # the candidate with the fewest trials, counting those running in other threads
        i = min(range(len(candidates)), key=lambda c: len(times[c]))
        if len(times[i]) >= TRIALS:  # every trial started, some still running:
            return_untimed = _best(times)  # the best so far, outside the trials
        else:
            return_untimed = None
            times[i].append(math.nan)  # its place while it runs
            slot = len(times[i]) - 1
    if return_untimed is not None:
        return candidates[return_untimed]()
    start = time.perf_counter()
    out = candidates[i]()
    elapsed = time.perf_counter() - start
    with _lock:
        times[i][slot] = elapsed
        finished = not any(math.isnan(t) for c in times for t in c)
        if finished and all(len(c) >= TRIALS for c in times) and key not in _chosen:
            _chosen[key] = _best(times)
    return out


def _best(times: list[list[float]]) -> int:
    """The candidate of the shortest finished trial (none finished: the first)."""

    def shortest(c: int) -> float:
        return min((t for t in times[c] if not math.isnan(t)), default=math.inf)

    return min(range(len(times)), key=shortest)


@contextlib.contextmanager
def forced(index: int) -> Iterator[None]:
    """Within the block, every :func:`run` runs candidate ``index`` (the last if it has fewer)."""
    global _forced
    previous, _forced = _forced, index
    try:
        yield
    finally:
        _forced = previous


def choices() -> dict[Hashable, int]:
    """The choice made per key so far: the index of the candidate that serves it."""
    with _lock:
        return dict(_chosen)


def reset() -> None:
    """Forget every timing and choice (e.g. after changing threads or the machine's load)."""
    with _lock:
        _times.clear()
        _chosen.clear()

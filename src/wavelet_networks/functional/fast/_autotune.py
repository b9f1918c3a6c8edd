"""The faster of interchangeable implementations, chosen by timing their first calls.

Whether MKL's matrix products or oneDNN's (products and convolution
backward) are faster depends on the CPU and on the shape. On AMD Zen 5,
MKL's ``sgemm`` runs its AVX2 code, at half the speed of oneDNN's AVX-512;
on an Intel Xeon both run AVX-512. A fixed rule measured on one machine is
wrong on the other, so, as ``torch.backends.cudnn.benchmark`` does on GPUs,
:func:`run` times the candidates on the calls that need them: once the
process has made ``autotune_settle`` calls here (the first candidate's: about
one W-M11 training step), ``autotune_warmup + autotune_trials`` calls of each
candidate take turns for each key (each call is real work and its result is
used), then the candidate with the shortest of its last ``autotune_trials``
serves every later call with that key (the settings of
:mod:`wavelet_networks.settings`, where the measurements behind them are).
The minimum, because noise from other work on the machine only adds time.
:func:`pending` tells whether choices are still being made (a benchmark warms
up until none are). The candidates agree up to float rounding; a choice, once
made, stays for the process.

While a key's candidates take turns, repeated calls may differ in the last
bits. The setting ``autotune=False`` (``WAVELET_NETWORKS_AUTOTUNE=0`` in the
environment), and ``torch.use_deterministic_algorithms(True)``, always run the
first candidate, the default path; ``autotune_force`` (:func:`forced`) runs a
given one (for tests and A/B measurements).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import torch

from wavelet_networks import settings

__all__ = ["calls", "choices", "forced", "pending", "reset", "run"]

_R = TypeVar("_R")

_lock = threading.Lock()
_times: dict[Hashable, list[list[float]]] = {}
_last_call: dict[Hashable, int] = {}  # every key called: the call count at its latest call
_count = 0  # calls of run() that took part in a choice
_chosen: dict[Hashable, int] = {}


def run(key: Hashable, candidates: Sequence[Callable[[], _R]]) -> _R:
    """The result of one of ``candidates`` (all computing the same thing) for ``key``.

    ``key`` names the work up to its data (operation, shapes, dtype, threads):
    calls with one key are assumed to cost the same. Thread-safe; calls from
    several threads time their candidates concurrently, as they run.
    """
    config = settings.current()
    if config.autotune_force is not None:
        return candidates[min(config.autotune_force, len(candidates) - 1)]()
    if not config.autotune or len(candidates) == 1 or torch.are_deterministic_algorithms_enabled():
        return candidates[0]()
    chosen = _chosen.get(key)
    if chosen is not None:
        return candidates[chosen]()
    global _count
    with _lock:
        _count += 1
        _last_call[key] = _count
        settling = _count <= config.autotune_settle
    if settling:
        return candidates[0]()
    with _lock:
        times = _times.setdefault(key, [[] for _ in candidates])
        # the candidate with the fewest trials, counting those running in other threads
        i = min(range(len(candidates)), key=lambda c: len(times[c]))
        if len(times[i]) >= config.autotune_warmup + config.autotune_trials:  # every trial started, some still running:
            return_untimed = _best(times, config.autotune_warmup)  # the best so far
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
        needed = config.autotune_warmup + config.autotune_trials
        if finished and all(len(c) >= needed for c in times) and key not in _chosen:
            _chosen[key] = _best(times, config.autotune_warmup)
    return out


def _best(times: list[list[float]], warmup: int) -> int:
    """The candidate of the shortest finished counted trial (none finished: the first)."""

    def shortest(c: int) -> float:
        return min((t for t in times[c][warmup:] if not math.isnan(t)), default=math.inf)

    return min(range(len(times)), key=shortest)


def forced(index: int | None) -> settings.configure:
    """Every :func:`run` runs candidate ``index`` (the last if it has fewer; ``None``: the
    timed choice): ``with forced(1): ...``."""
    return settings.configure(autotune_force=index)


def calls() -> int:
    """A count of the calls so far that took part in a choice (for :func:`pending`)."""
    return _count


def pending(since: int = 0) -> int:
    """Keys whose choice is not made yet, of those called after ``calls()`` returned ``since``.

    A benchmark warms up until ``pending(mark)`` is 0, ``mark = calls()`` taken
    before each warm-up run.
    """
    with _lock:
        return sum(key not in _chosen and last > since for key, last in _last_call.items())


def choices() -> dict[Hashable, int]:
    """The choice made per key so far: the index of the candidate that serves it."""
    with _lock:
        return dict(_chosen)


def reset() -> None:
    """Forget every timing and choice (e.g. after changing threads or the machine's load)."""
    global _count
    with _lock:
        _count = 0
        _times.clear()
        _last_call.clear()
        _chosen.clear()

"""How (not what) the library computes: every switch and threshold of the fast paths, in one place.

The operations of :mod:`wavelet_networks.functional` each have a reference
implementation (:mod:`wavelet_networks.functional.reference`, the mathematics
in plain torch) and faster ones (:mod:`wavelet_networks.functional.fast`) that
compute the same values and gradients up to float rounding. Which one runs,
and with which tuning, is decided by the :class:`Settings` in effect:

>>> import wavelet_networks as wn
>>> with wn.reference_mode():          # everything on the reference
...     pass
>>> with wn.configure(native=False):   # the fast paths without the compiled loops
...     pass

Both work as context managers (the previous settings come back on exit) and
as plain calls (the change stays). The settings are process-wide, like
``torch.backends`` flags: a change made in one thread applies to every
thread. The thresholds' values and the measurements behind them are
documented on each field.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from types import TracebackType

__all__ = ["Settings", "configure", "current", "reference_mode"]


@dataclass(frozen=True)
class Settings:
    """The settings in effect; read them with :func:`current`, change them with :func:`configure`."""

    reference: bool = False
    """Run every operation on its reference implementation (pure torch, exportable)."""

    disabled: frozenset[str] = frozenset()
    """Fast implementations not to use, by ``"operation:implementation"`` name, e.g.
    ``"group_conv1d:itemwise"`` (the names are listed by
    :func:`wavelet_networks.functional.implementations`)."""

    native: bool = True
    """Use the compiled loops (``fast/_native.c``) where they apply; else their torch forms.
    ``WAVELET_NETWORKS_NATIVE=0`` in the environment keeps them from being built at all."""

    threads: bool = True
    """Run batch items on parallel Python threads, one per torch thread
    (:mod:`~wavelet_networks.functional.fast._threads`)."""

    autotune: bool = field(
        default_factory=lambda: os.environ.get("WAVELET_NETWORKS_AUTOTUNE", "1") != "0"
    )
    """Choose between interchangeable products by timing their first calls
    (:mod:`~wavelet_networks.functional.fast._autotune`); off: always the first
    candidate. ``WAVELET_NETWORKS_AUTOTUNE=0`` in the environment turns it off."""

    autotune_force: int | None = None
    """Run this candidate of every timed choice (for tests and A/B measurements)."""

    autotune_settle: int = 1000
    """Calls of timed choices in the process before any trials begin (about one W-M11
    training step): trials in a process's first step, while memory is still being mapped
    and oneDNN sets up each shape, chose MKL's product for the W-M11 stem, 1.3 times
    slower there."""

    autotune_warmup: int = 2
    """Calls per candidate that are not counted (first-call set-up measured 2 to 7 times
    slower)."""

    autotune_trials: int = 3
    """Counted calls per candidate; the shortest decides."""

    thread_min_item: int = 2**20
    """Values per batch item from which group convolutions run one item per thread: on
    W-M11's group layers the threads pay from the first stage's ``(51, 7, 5512)`` per item
    (1.25 to 1.6 times faster forward+backward), break even at the second stage's
    ``(51, 7, 1378)`` and cost from the third on (``benchmarks/ab_fast_paths.py --only
    group-threads``)."""

    pool_min_item: int = 2**19
    """Values per batch item from which max pooling over time (alone, or fused with batch
    norm and ReLU) runs as compiled loops on threads: at W-M11's first and second stages
    forward+backward took 0.48 and 0.59 times ``max_pool2d``'s time, at its third (items of
    2.1e5 values) 1.15 times (``benchmarks/ab_fast_paths.py --only time-pool``)."""

    product_channels: int = 32
    """Input channels (times scale taps) from which a group layer's dilated taps, one batch
    item at a time, run as ``K`` matrix products rather than as a dilated ``conv1d``."""

    product_output: int = 2**19
    """Output values per batch item up to which those products run (about 2 MB): on
    W-M11's group layers they ran 1.03 to 1.23 times faster than oneDNN's ``conv1d``, on
    W-SampleCNN's, whose outputs outgrow the cache, 0.76 to 0.88 times as fast
    (``benchmarks/ab_fast_paths.py --only group-products``)."""

    product_rows: int = 2048
    """Rows of the fused lifting's Toeplitz products: W-M11's stem and fused lifting
    forward+backward measured 1.04 and 1.10 times faster with 2,048 than with 1,024
    (``benchmarks/ab_fast_paths.py --only product-rows``)."""

    product_bytes: int = 3_400_000
    """The rows are halved while a product's output would exceed this many bytes (it stays
    in a core's cache while it is pooled); W-SampleCNN's 90 channels keep 1,024 rows."""

    window_gradient: bool = True
    """Form the fused lifting's weight gradient from the windows' maxima (compiled loops)
    rather than as ``X^T dY``: W-M11's stem and fused lifting forward+backward 1.16 and
    1.28 times faster (``benchmarks/ab_fast_paths.py --only window-gradient``)."""

    def replace(self, **changes: object) -> Settings:
        """A copy with ``changes``; unknown names raise a ValueError that lists the known ones."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown settings {unknown}; the settings are {sorted(known)}")
        if "disabled" in changes:
            changes["disabled"] = frozenset(changes["disabled"])  # type: ignore[arg-type]
            _check_implementations(changes["disabled"])  # type: ignore[arg-type]
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _check_implementations(names: frozenset[str]) -> None:
    from wavelet_networks.functional import implementations

    known = {f"{op}:{impl}" for op, impls in implementations().items() for impl in impls}
    unknown = sorted(set(names) - known)
    if unknown:
        raise ValueError(
            f"unknown implementations {unknown} in disabled; the fast implementations are "
            f"{sorted(known)}"
        )


_current = Settings()


def current() -> Settings:
    """The settings in effect."""
    return _current


class configure:  # lower case: used like a function, as torch.set_grad_enabled
    """Change settings: ``configure(native=False)`` keeps the change, ``with configure(...):``
    restores the previous settings on exit.

    Args:
        **changes: fields of :class:`Settings` and their new values.
    """

    def __init__(self, **changes: object) -> None:
        global _current
        self.previous = _current
        _current = _current.replace(**changes)

    def __enter__(self) -> Settings:
        return _current

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        global _current
        _current = self.previous


class reference_mode(configure):
    """Run every operation on its reference implementation (``enabled=False``: the fast paths).

    The reference is plain torch, so a model in reference mode traces with
    ``torch.export`` and compiles with ``torch.compile(fullgraph=True)``; its
    values and gradients are those of the fast paths up to float rounding,
    but it is slower (the lifting layers correlate with every scale's sampled
    kernel, ``(K + n + 1) s`` taps at scale ``s``).
    """

    def __init__(self, enabled: bool = True) -> None:
        super().__init__(reference=enabled)

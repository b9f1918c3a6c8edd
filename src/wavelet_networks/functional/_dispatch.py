"""One dispatcher: per operation, its reference and an ordered list of faster implementations.

An :class:`Operation` is called like its reference function (same signature,
same docstring). It checks the arguments, then runs the first implementation
whose ``applies`` accepts them and that the settings allow
(:mod:`wavelet_networks.settings`: not disabled by name, not in reference
mode); when none does, the reference. Every implementation takes the
reference's arguments and returns what the reference returns, up to float
rounding (``tests/core/test_implementations.py`` checks each against it,
values and gradients).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wavelet_networks import settings

__all__ = ["Implementation", "Operation"]


@dataclass(frozen=True)
class Implementation:
    """A faster way to compute an operation: ``run`` where ``applies`` (both take its arguments)."""

    name: str
    run: Callable[..., Any]
    applies: Callable[..., bool]
    doc: str = ""


class Operation:
    """A public operation: its reference, an argument check, and its implementations in order.

    Args:
        reference: the plain-torch definition (:mod:`~wavelet_networks.functional.reference`).
        check: raises on bad arguments; takes the reference's arguments.
    """

    def __init__(self, reference: Callable[..., Any], check: Callable[..., None] | None = None):
        self.reference = reference
        self.check = check
        self.implementations: list[Implementation] = []
        functools.update_wrapper(self, reference)
        self.name: str = reference.__name__

    def register(self, name: str, applies: Callable[..., bool], *, doc: str = ""):
        """Decorator: add ``run`` as the next implementation, tried where ``applies``."""

        def add(run: Callable[..., Any]) -> Callable[..., Any]:
            if any(impl.name == name for impl in self.implementations):
                raise ValueError(f"{self.name} already has an implementation named {name!r}")
            self.implementations.append(Implementation(name, run, applies, doc or run.__doc__ or ""))
            return run

        return add

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.check is not None:
            self.check(*args, **kwargs)
        return self.run_after(None, *args, **kwargs)

    def run_after(self, previous: str | None, *args: Any, **kwargs: Any) -> Any:
        """The first implementation that applies after the one named ``previous`` (``None``: all).

        Arguments are not checked again. An implementation that wraps others
        (batch items on threads) hands its parts on with this.
        """
        config = settings.current()
        if not config.reference:
            start = 0
            if previous is not None:
                start = 1 + next(i for i, impl in enumerate(self.implementations)
                                 if impl.name == previous)  # fmt: skip
            for impl in self.implementations[start:]:
                if f"{self.name}:{impl.name}" in config.disabled:
                    continue
                if impl.applies(*args, **kwargs):
                    return impl.run(*args, **kwargs)
        return self.reference(*args, **kwargs)

    def chosen(self, *args: Any, **kwargs: Any) -> str:
        """The name of the implementation a call with these arguments runs ("reference" if none)."""
        config = settings.current()
        if not config.reference:
            for impl in self.implementations:
                if f"{self.name}:{impl.name}" not in config.disabled and impl.applies(*args, **kwargs):
                    return impl.name
        return "reference"

    def __repr__(self) -> str:
        names = ", ".join(impl.name for impl in self.implementations)
        return f"<operation {self.name}: {names + ', ' if names else ''}reference>"

"""Shared machinery of the zoo: input checks, length arithmetic, receptive fields, init.

Every zoo model registers its layers in the order of its forward pass, so a
walk over its modules meets the layers of time of the main path in order.
:func:`~wavelet_networks.nn.module.length_steps` turns that walk into a list
of :class:`~wavelet_networks.nn.module.Step` (output length as a function of
input length, extent, stride), from the layers' own arithmetic
(:class:`~wavelet_networks.nn.EquivariantModule`); from it :class:`ZooModel`
derives the shortest (and, for models with a flattening head, the longest)
input it accepts, and :func:`receptive_field` the receptive field in samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from wavelet_networks import nn as wnn
from wavelet_networks._validation import check_signal
from wavelet_networks.nn.module import Step, length_steps, output_length, receptive_field

__all__ = ["Step", "ZooModel", "length_steps", "receptive_field"]

_LIMIT = 1 << 31  # search bound for input lengths (samples)


def _first_true(pred: Callable[[int], bool], lo: int = 1, hi: int = _LIMIT) -> int | None:
    """Smallest ``n`` in ``[lo, hi]`` with ``pred(n)`` for a monotone ``pred`` (None if none)."""
    if not pred(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


class ZooModel(nn.Module):
    """Base class of the zoo's models: input validation against the architecture.

    Subclasses build their layers (in forward order), then call
    :meth:`_finish`. Attributes available afterwards:

    - ``in_channels``, ``num_classes``
    - ``input_length``: the length of the paper's protocol (samples)
    - ``final_length``: time steps the head flattens (``None``: global pooling
      over time, any length from ``min_length`` on works)
    - ``min_length`` / ``max_length``: accepted input lengths (``max_length`` is
      ``None`` without a flattening head)
    """

    zoo_name: str = "model"

    def __init__(self, num_classes: int, in_channels: int, input_length: int) -> None:
        super().__init__()
        for value, what in ((num_classes, "num_classes"), (in_channels, "in_channels")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{what} must be an integer >= 1, got {value!r}")
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.input_length = input_length
        self.final_length: int | None = None
        self.min_length = 1
        self.max_length: int | None = None

    def _finish(self, final_length: int | None = None) -> None:
        """Derive the accepted input lengths from the layers (call at the end of ``__init__``)."""
        steps = length_steps(self)
        self.final_length = final_length
        if final_length is None:
            low = _first_true(lambda n: output_length(steps, n) >= 1)
            high = None
        else:
            low = _first_true(lambda n: output_length(steps, n) >= final_length)
            over = _first_true(lambda n: output_length(steps, n) > final_length)
            high = None if over is None else over - 1
        if low is None or (high is not None and high < low):
            raise ValueError(f"{self.zoo_name}: no input length fits this architecture")
        self.min_length, self.max_length = low, high

    def length_steps(self) -> list[Step]:
        """The main path's convolutions and poolings, see :func:`length_steps`."""
        return length_steps(self)

    def receptive_field(self) -> int | None:
        """Receptive field (samples) of one time step of the last feature map (``features``;
        the heads read the features after the mean over time, or flattened)."""
        return receptive_field(length_steps(getattr(self, "features", self)))

    def check_input(self, x: Tensor) -> None:
        """Raise a ValueError unless ``x`` is ``(batch, in_channels, time)`` of an accepted length."""
        check_signal(x, self.in_channels, name=f"{self.zoo_name} input")
        n = x.shape[-1]
        if self.max_length is None:
            if n < self.min_length:
                raise ValueError(
                    f"{self.zoo_name} input is too short: {n} samples, the architecture needs at "
                    f"least {self.min_length} (expected length {self.input_length}; shape "
                    f"{tuple(x.shape)})"
                )
        elif not self.min_length <= n <= self.max_length:
            short = n < self.min_length
            hint = "" if short else "; split longer signals into windows and average the logits"
            raise ValueError(
                f"{self.zoo_name} input is too {'short' if short else 'long'}: {n} samples, the "
                f"flattening head accepts {self.min_length} to {self.max_length} samples "
                f"(expected length {self.input_length}; shape {tuple(x.shape)}){hint}"
            )

    def extra_repr(self) -> str:
        rng = f"{self.min_length}..{self.max_length or 'any'}"
        return (
            f"in_channels={self.in_channels}, num_classes={self.num_classes}, "
            f"input_length={self.input_length} (accepted {rng})"
        )


# --------------------------------------------------------------------------- initialisation
@torch.no_grad()
def init_normal_fan_in(module: nn.Module, linear: bool = False) -> None:
    """Weights ~ N(0, 1/fan_in) for every ``nn.Conv1d`` (and ``nn.Linear``): the reference init."""
    types: tuple[type, ...] = (nn.Conv1d, nn.Linear) if linear else (nn.Conv1d,)
    for m in module.modules():
        if isinstance(m, types):
            m.weight.normal_(0.0, m.weight[0].numel() ** -0.5)


@torch.no_grad()
def init_he_uniform(module: nn.Module) -> None:
    """Spline weights ~ U(-b, b), ``b = sqrt(2 / (in_channels * kernel_size))``: the reference init.

    The fan-in counts channels and time taps, not scale taps (as the original code).
    """
    for m in module.modules():
        if isinstance(m, (wnn.LiftingConv1d, wnn.GroupConv1d)):
            bound = math.sqrt(2.0 / (m.in_channels * m.kernel_size))
            m.weight.uniform_(-bound, bound)

"""Input checks shared by the functional operations and the layers."""

from __future__ import annotations

from torch import Tensor

SIGNAL = "(batch, channels, time)"
GROUP = "(batch, channels, scales, time)"


def check_signal(x: Tensor, channels: int | None = None, name: str = "input") -> None:
    """Raise unless ``x`` is a ``(batch, channels, time)`` tensor with ``channels`` channels."""
    _check(x, 3, SIGNAL, channels, name)


def check_group(x: Tensor, channels: int | None = None, name: str = "input") -> None:
    """Raise unless ``x`` is a ``(batch, channels, scales, time)`` tensor."""
    _check(x, 4, GROUP, channels, name)


def _check(x: Tensor, ndim: int, layout: str, channels: int | None, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != ndim:
        hint = ""
        if ndim == 3 and x.dim() == 2:
            hint = " (add a channel axis: x.unsqueeze(1))"
        elif ndim == 4 and x.dim() == 3:
            hint = " (a time series must be lifted first, e.g. with LiftingConv1d)"
        raise ValueError(
            f"{name} must have {ndim} dimensions {layout}, got {x.dim()} dimensions with "
            f"shape {tuple(x.shape)}{hint}"
        )
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{name} must have {channels} channels in dimension 1 of {layout}, got "
            f"{x.shape[1]} (shape {tuple(x.shape)})"
        )


def check_positive_int(value: int, name: str, minimum: int = 1) -> None:
    """Raise unless ``value`` is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_choice(value: str, name: str, choices: tuple[str, ...]) -> None:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")

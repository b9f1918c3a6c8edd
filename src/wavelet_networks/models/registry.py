"""Model registry: build any model of the zoo by its stable lower-case name.

Every model module registers its constructors with :func:`register`; users call
:func:`build` and :func:`available`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "ModelCard",
    "available",
    "build",
    "card",
    "load_weights",
    "overrides",
    "read_state_dict",
    "register",
]


@dataclass(frozen=True)
class ModelCard:
    """Facts about a model of the zoo, shown by ``wavelet-networks models``.

    Attributes:
        name: registry name (lower case, stable).
        family: "baseline" or "wavelet".
        paper: the publication the architecture comes from.
        twin: registry name of the parameter-matched counterpart, if any.
        sample_rate: sample rate (Hz) of the paper's protocol.
        input_length: expected input length in samples.
        reference_params: parameter count of the reference implementation.
        paper_result: the paper's reported result for this model (text).
        notes: deviations from the reference and why.
    """

    name: str
    family: str
    paper: str
    twin: str | None = None
    sample_rate: int | None = None
    input_length: int | None = None
    reference_params: int | None = None
    paper_result: str | None = None
    notes: str = ""
    task: str = "multiclass"
    extra: dict = field(default_factory=dict)


_REGISTRY: dict[str, tuple[Callable[..., nn.Module], ModelCard]] = {}


def register(card: ModelCard) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a constructor ``fn(num_classes, in_channels, **overrides)``."""

    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = card.name
        if name != name.lower():
            raise ValueError(f"model names are lower case, got {name!r}")
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = (fn, card)
        return fn

    return decorator


def _ensure_loaded() -> None:
    # Importing the zoo modules registers their models.
    from wavelet_networks import models  # noqa: F401


def available() -> list[str]:
    """Sorted names of all registered models."""
    _ensure_loaded()
    return sorted(_REGISTRY)


def _lookup(name: str) -> tuple[Callable[..., nn.Module], ModelCard]:
    _ensure_loaded()
    key = name.lower()
    if key not in _REGISTRY:
        import difflib

        close = difflib.get_close_matches(key, _REGISTRY, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"unknown model {name!r}.{hint} Available models: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[key]


def card(name: str) -> ModelCard:
    """The :class:`ModelCard` of a registered model."""
    return _lookup(name)[1]


def overrides(name: str) -> dict[str, object]:
    """The architecture options ``build(name, ..., **overrides)`` accepts, with their defaults.

    Read from the constructor's signature; a constructor that forwards
    ``**overrides`` to a class is resolved through its return annotation.
    """
    import inspect
    import typing

    fn, _ = _lookup(name)
    skip = {"num_classes", "in_channels", "self"}
    params = list(inspect.signature(fn).parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in params):
        try:
            cls = typing.get_type_hints(fn).get("return")
        except Exception:  # unresolvable annotations: fall back to the visible parameters
            cls = None
        if isinstance(cls, type) and cls is not nn.Module and issubclass(cls, nn.Module):
            params += list(inspect.signature(cls.__init__).parameters.values())
    return {
        p.name: (None if p.default is p.empty else p.default)
        for p in params
        if p.name not in skip and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }


def build(
    name: str,
    num_classes: int,
    in_channels: int = 1,
    weights: str | Path | None = None,
    **overrides: Any,
) -> nn.Module:
    """Build a model of the zoo by name.

    Args:
        name: registry name, e.g. ``"m11"`` or ``"w-m11"`` (see :func:`available`).
        num_classes: number of output logits (classes or tags).
        in_channels: channels of the input time series.
        weights: optional path to a ``state_dict`` (``.pt``), a Lightning
            checkpoint (``.ckpt``) or a checkpoint of the paper's own code (its
            layout, with or without ``module.``, is recognised and converted;
            see :mod:`wavelet_networks.models.paper`), whose tensors must match
            the architecture. Read with ``weights_only=True``.
        **overrides: architecture options of the model's constructor.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if in_channels < 1:
        raise ValueError(f"in_channels must be >= 1, got {in_channels}")
    fn, _ = _lookup(name)
    model = fn(num_classes=num_classes, in_channels=in_channels, **overrides)
    if weights is not None:
        load_weights(model, weights, name=name)
    return model


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a state dict (``.pt``/``.pth``) or Lightning checkpoint (``.ckpt``) file.

    The file is unpickled with ``torch.load(..., weights_only=True)``: tensors,
    containers and numbers only, so a file crafted to run code when unpickled
    is refused before anything runs. Lightning checkpoints give their
    ``state_dict`` with the ``model.`` prefix of the Lightning module removed.
    Tensors saved on a GPU are loaded on the CPU.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a torch file, holds other Python objects,
            or holds no state dict.
    """
    import pickle

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = (str(exc).strip().splitlines() or ["?"])[0]
        raise ValueError(
            f"refused to load {str(path)!r}: it holds Python objects other than tensors, "
            f"containers and numbers, which only weights_only=False would unpickle (and "
            f"which could run code); expected a state dict or checkpoint ({first})"
        ) from None
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"cannot read {str(path)!r} as a torch file: {first}") from None
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise ValueError(f"{str(path)!r} holds no state dict (got {type(obj).__name__})")
    # Lightning checkpoints prefix the network's tensors with "model.".
    if state and all(k.startswith("model.") for k in state):
        state = {k[len("model.") :]: v for k, v in state.items()}
    return state


def _fits(state: dict, name: str) -> str | None:
    """How ``state`` fits zoo model ``name`` by its keys: "its own layout", "the paper's layout"
    or ``None``."""
    from wavelet_networks.models.paper import (
        PaperLayoutError,
        _ignored,
        paper_keys,
        strip_data_parallel,
    )

    try:
        with torch.device("meta"):
            model = build(name, int(card(name).extra.get("num_classes", 10)))
    except Exception:  # a model that cannot be built with its defaults
        return None
    keys = set(state)
    if keys == set(model.state_dict()):
        return "its own layout"
    try:
        theirs = set(paper_keys(model))
    except PaperLayoutError:
        return None
    given = {k for k in strip_data_parallel(state) if not _ignored(k)}
    optional = {k for k in theirs if k.endswith("num_batches_tracked")}
    if given and given <= theirs and theirs - given <= optional:
        return "the paper's layout"
    return None


def _hint(state: dict, name: str) -> str:
    fits = [(other, how) for other in available() if other != name
            for how in [_fits(state, other)] if how]  # fmt: skip
    if not fits:
        return " The file's keys fit no model of the zoo."
    return " The file's keys fit " + ", ".join(f"{o!r} ({how})" for o, how in fits) + "."


def load_weights(model: nn.Module, path: str | Path, name: str = "model") -> None:
    """Load a state dict or Lightning checkpoint into ``model``, strictly.

    Accepts the model's own layout (a ``state_dict()`` saved by this library,
    or a ``wavelet-networks fit`` checkpoint) and the layout of the paper's own
    code (with or without the ``module.`` prefix of ``nn.DataParallel``), which
    is converted by :func:`~wavelet_networks.models.paper.convert_paper_state_dict`.
    The file is read with ``weights_only=True`` (see :func:`read_state_dict`).

    Raises:
        ValueError: the file does not fit ``model``, naming the missing and
            unexpected keys and shape mismatches, and the zoo models the file's
            keys do fit, if any.
    """
    from wavelet_networks.models.paper import (
        PaperLayoutError,
        convert_paper_state_dict,
        is_paper_layout,
    )

    state = read_state_dict(path)
    own = model.state_dict()
    if set(state) != set(own) and is_paper_layout(state, model):
        try:
            state = convert_paper_state_dict(model, state)
        except PaperLayoutError as exc:
            raise ValueError(
                f"weights in {str(path)!r} do not match the architecture of {name!r}: {exc}."
                + _hint(state, name)
            ) from None
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(
        k for k in set(own) & set(state)
        if not isinstance(state[k], torch.Tensor) or own[k].shape != state[k].shape
    )  # fmt: skip
    if missing or unexpected or wrong:
        from wavelet_networks.models.paper import _listing

        parts = []
        if missing:
            parts.append(f"missing keys: {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_listing(unexpected)}")
        if wrong:  # missing, unexpected and wrong are sorted
            k = wrong[0]
            got = getattr(state[k], "shape", type(state[k]).__name__)
            got = tuple(got) if isinstance(got, torch.Size) else got
            parts.append(f"shape mismatch for {k!r}: file {got}, model {tuple(own[k].shape)}")
        raise ValueError(
            f"weights in {str(path)!r} do not match the architecture of {name!r}: "
            + "; ".join(parts)
            + "."
            + (_hint(state, name) if missing or unexpected else "")
        )
    model.load_state_dict(state)

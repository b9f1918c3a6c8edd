"""Reading checkpoint and weights files without running code from them.

``torch.load`` unpickles; a pickle can name any importable function and call
it (``os.system`` included) while it is being read. Every checkpoint or
weights file the project reads goes through :func:`load_checkpoint_file`,
which uses PyTorch's restricted unpickler (``weights_only=True``): tensors,
numbers, strings and the built-in containers only, and it refuses anything else
*before* calling it. The checkpoints ``wavelet-networks fit`` writes hold
nothing else (model and optimiser states, loop counters, random-generator
states as byte tensors, the run's configuration as plain YAML values), so no
type needs to be allow-listed.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

__all__ = ["UnsafeCheckpointError", "load_checkpoint_file"]


class UnsafeCheckpointError(ValueError):
    """A checkpoint or weights file that holds Python objects other than tensors and plain data."""


def load_checkpoint_file(path: str | Path, what: str = "checkpoint") -> Any:
    """The object stored in ``path`` (a ``.ckpt`` or ``.pt`` file), read on the CPU, safely.

    Args:
        path: the file to read.
        what: what the file is meant to be, for messages (``"checkpoint"``,
            ``"weights file"``).

    Raises:
        FileNotFoundError: ``path`` is not a file.
        UnsafeCheckpointError: the file's pickle names a function or class
            outside tensors and plain data (none of it is called).
        ValueError: the file is not a PyTorch file at all (truncated, text, ...).
    """
    import torch

    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{what} {str(p)!r} does not exist or is not a file")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = _refused_global(exc)
        if refused:
            raise UnsafeCheckpointError(
                f"refusing to read {what} {str(p)!r}: it holds Python objects other than "
                f"tensors and plain data (its pickle calls {refused}), which could run code; "
                "only files written by `wavelet-networks fit` or torch.save(state_dict) are read"
            ) from None
        raise ValueError(
            f"cannot read {what} {str(p)!r}: not a file written by torch.save "
            f"({_unpickler_reason(exc)})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ValueError(f"cannot read {what} {str(p)!r}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _refused_global(exc: BaseException) -> str:
    """The name the restricted unpickler refused (e.g. ``posix.system``), or ``""``."""
    m = re.search(r"GLOBAL ([\w.]+)", str(exc))
    return m.group(1) if m else ""


def _unpickler_reason(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    reasons = [ln for ln in lines if ln.startswith(("Unsupported", "Unpickling", "invalid"))]
    return (reasons or lines or [type(exc).__name__])[0]

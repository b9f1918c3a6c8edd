"""Compare the zoo's models with golden outputs computed by the paper's own code.

A golden fixture is a folder with the paper's weights for one model and a
``reference.npz`` (no pickle) of inputs and the logits the paper's code
computes on them in float64 and float32 (see the README of each fixture
folder). Two kinds exist:

- ``original-w-1d-cnn/``: the paper's **trained** W-1D-CNN (``model.pth``,
  saved from ``nn.DataParallel``) and 8 inputs of 64,000 samples;
- ``original-golden/<name>/``: seeded **random** weights in the layout of the
  paper's code (``state_dict.pt``, batch-norm statistics randomised) and 2
  inputs at the model's expected length, for the M-nets, their W- twins,
  SampleCNN and W-SampleCNN.

The fixtures (82 MB) are not part of the package: :func:`find_fixtures` looks
for them in ``$WAVELET_NETWORKS_FIXTURES``, else in the first ``shared/fixtures``
folder above a starting directory. Differences are reported as the largest
absolute difference relative to the largest absolute reference value
(:func:`relative_difference`), the measure the fixtures' READMEs use for the
paper's own float32/float64 spread.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "FIXTURES_ENV",
    "Golden",
    "find_fixtures",
    "golden_models",
    "load_golden",
    "paper_model",
    "relative_difference",
]

FIXTURES_ENV = "WAVELET_NETWORKS_FIXTURES"
TRAINED = {"w-1d-cnn": ("original-w-1d-cnn", "model.pth")}  # zoo name: (folder, weights)
RANDOM = "original-golden"


def find_fixtures(start: str | Path | None = None) -> tuple[Path | None, list[str]]:
    """The folder of golden fixtures, and the places looked at.

    ``$WAVELET_NETWORKS_FIXTURES`` if set (it must exist), else the first
    ``shared/fixtures`` folder in ``start`` (default: the working directory)
    or one of its parents.

    Returns:
        ``(folder or None, places looked at)``.
    """
    env = os.environ.get(FIXTURES_ENV)
    if env:
        path = Path(env).expanduser()
        return (path if path.is_dir() else None), [f"${FIXTURES_ENV}={env}"]
    here = Path(start if start is not None else Path.cwd()).resolve()
    looked = []
    for folder in (here, *here.parents):
        candidate = folder / "shared" / "fixtures"
        looked.append(str(candidate))
        if candidate.is_dir():
            return candidate, looked
    return None, looked


def golden_models(root: str | Path) -> list[str]:
    """Zoo names with a fixture under ``root``: the trained one(s) first, then random weights."""
    root = Path(root)
    names = [n for n, (folder, file) in TRAINED.items() if (root / folder / file).is_file()]
    random = root / RANDOM
    if random.is_dir():
        names += sorted(p.name for p in random.iterdir() if (p / "reference.npz").is_file())
    return names


@dataclass
class Golden:
    """One model's fixture: the paper's weights, inputs and logits.

    Attributes:
        name: zoo name.
        weights: the fixture's weights file (the paper's layout).
        trained: trained weights (``True``) or seeded random ones.
        reference: every array of ``reference.npz``.
    """

    name: str
    weights: Path
    trained: bool
    reference: dict[str, np.ndarray]

    @property
    def inputs(self) -> Tensor:
        """The model inputs ``(N, 1, T)`` in float64: ``inputs_int16 / 32768``."""
        x = torch.from_numpy(self.reference["inputs_int16"].astype(np.float64) / 32768.0)
        return x[:, None]

    def logits(self, dtype: torch.dtype) -> np.ndarray:
        """The paper's logits ``(N, classes)`` computed in ``dtype`` (float64 or float32)."""
        key = {torch.float64: "logits_f64", torch.float32: "logits_f32"}[dtype]
        return self.reference[key].astype(np.float64)

    @property
    def spread(self) -> float:
        """The paper's own float32-vs-float64 logit difference (:func:`relative_difference`)."""
        return relative_difference(self.logits(torch.float32), self.logits(torch.float64))


def load_golden(root: str | Path, name: str) -> Golden:
    """The fixture of zoo model ``name`` under ``root`` (see :func:`golden_models`)."""
    root = Path(root)
    if name in TRAINED and (root / TRAINED[name][0] / TRAINED[name][1]).is_file():
        folder, file = TRAINED[name]
        weights, trained = root / folder / file, True
    else:
        folder = Path(RANDOM) / name
        weights, trained = root / folder / "state_dict.pt", False
    path = root / folder / "reference.npz"
    if not path.is_file() or not weights.is_file():
        raise FileNotFoundError(f"no golden fixture for {name!r} under {str(root)!r} "
                                f"(expected {str(path)!r} and {str(weights)!r})")
    with np.load(path, allow_pickle=False) as data:
        reference = {k: data[k] for k in data.files}
    return Golden(name, weights, trained, reference)


def paper_model(golden: Golden, dtype: torch.dtype = torch.float64, **overrides) -> nn.Module:
    """The zoo model of ``golden`` in eval mode and ``dtype``, with the fixture's weights.

    The weights go through ``build(..., weights=path)``, i.e. the recognition
    and conversion of the paper's layout that users get.
    """
    from wavelet_networks.models.registry import build

    num_classes = golden.reference["logits_f64"].shape[1]
    model = build(golden.name, num_classes, weights=golden.weights, **overrides)
    return model.to(dtype).eval()


def relative_difference(ours: np.ndarray | Tensor, reference: np.ndarray | Tensor) -> float:
    """``max |ours - reference| / max |reference|`` (0 for two zero arrays)."""
    a = np.asarray(ours.detach().cpu() if isinstance(ours, Tensor) else ours, dtype=np.float64)
    b = np.asarray(
        reference.detach().cpu() if isinstance(reference, Tensor) else reference, dtype=np.float64
    )
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    scale = np.abs(b).max()
    diff = np.abs(a - b).max()
    return float(diff / scale) if scale > 0 else float(diff)

"""The interface every data set of the project follows.

A data module yields batches ``(x, y)``:

- ``x``: float32 waveforms ``(batch, channels, time)``. Evaluation batches of
  data sets scored per clip over several segments may instead be
  ``(batch, segments, channels, time)``; the model then scores every segment
  and the logits are averaged over segments.
- ``y``: int64 class indices ``(batch,)`` when ``task == "multiclass"``, or
  float32 multi-hot targets ``(batch, num_classes)`` when
  ``task == "multilabel"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import lightning as L
import torch
from torch.utils.data import DataLoader

__all__ = ["DATASETS", "WaveformDataModule", "parse_resample_range", "parse_resample_spec",
           "register_dataset", "resample_batch"]

DATASETS: dict[str, type[WaveformDataModule]] = {}


def register_dataset(name: str):
    """Class decorator adding a data module to :data:`DATASETS` under ``name``."""

    def decorator(cls: type[WaveformDataModule]) -> type[WaveformDataModule]:
        if name in DATASETS:
            raise ValueError(f"data set {name!r} is already registered")
        cls.name = name
        DATASETS[name] = cls
        return cls

    return decorator


class WaveformDataModule(L.LightningDataModule):
    """Base class of the project's data modules.

    Subclasses set the class attributes and implement ``setup`` and
    ``_loader(split, shuffle)``, from which the base class derives Lightning's
    ``train_dataloader``, ``val_dataloader`` and ``test_dataloader``.

    Resampling augmentation (``augment_resample="LO,HI"``, every data module's
    ``--data.augment_resample`` option): every training batch is played at a
    random speed, ``x(t) -> x(t / f)`` with ``f`` log-uniform in ``[LO, HI]``
    (band-limited, :func:`wavelet_networks.testing.resample`; one ``f`` per
    batch; ``"LO,HI,P"``: only a fraction ``P`` of the training batches, drawn
    at random, the others pass at the recorded speed), and keeps its new
    length ``round(time * f)``, so the model must
    accept any length (models that pool over time do). Data sets that
    normalise every series on their own (``normalization = "per-series"``)
    normalise the resampled series again. Validation and test batches are
    never resampled.

    Attributes:
        name: registry name (set by :func:`register_dataset`).
        task: ``"multiclass"`` or ``"multilabel"``.
        description: one line for ``wavelet-networks datasets``.
        expected_layout: the on-disk layout ``root`` must have (text).
    """

    name: ClassVar[str] = ""
    task: ClassVar[str] = "multiclass"
    description: ClassVar[str] = ""
    expected_layout: ClassVar[str] = ""

    def __init__(self, augment_resample: str | None = None) -> None:
        super().__init__()
        self.augment_resample = augment_resample
        spec = parse_resample_spec(augment_resample)
        self._resample_range = spec[:2] if spec else None
        self._resample_probability = spec[2] if spec else 0.0

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Resample training batches (``augment_resample``); other batches pass unchanged."""
        trainer = self.trainer
        if self._resample_range is None or batch is None or trainer is None or not trainer.training:
            return batch
        x, *rest = batch
        lo, hi = self._resample_range
        if self._resample_probability < 1 and torch.rand(()).item() >= self._resample_probability:
            return batch
        factor = math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * torch.rand(()).item())
        return (resample_batch(x, factor, getattr(self, "normalization", None) == "per-series"),
                *rest)

    @property
    def num_classes(self) -> int:
        raise NotImplementedError

    @property
    def class_names(self) -> list[str]:
        raise NotImplementedError

    @property
    def in_channels(self) -> int:
        return 1

    @property
    def sample_rate(self) -> float | None:
        """Sample rate in Hz of the waveforms fed to the model (None if unknown)."""
        return None

    @property
    def input_length(self) -> int:
        """Number of samples per training example."""
        raise NotImplementedError

    @classmethod
    def run_name(cls, init_args: Mapping[str, Any]) -> str:
        """The data set's part of run directories: ``<run_root>/<run_name>/<model>/...``.

        ``init_args`` are the constructor's arguments as configured. The
        registry name by default; modules that read many data sets (``ucr``,
        ``folder``) add which one, so that their runs do not share directories.
        """
        return cls.name

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        """The loader of ``split`` ("train", "val" or "test"); subclasses implement it."""
        raise NotImplementedError

    def split_sizes(self) -> dict[str, int | None]:
        """Examples in each split (``None`` where a loader's data set has no length).

        Builds the loaders (and so sets the data up). ``wavelet-networks fit``
        checks that none is empty before it trains.
        """
        sizes: dict[str, int | None] = {}
        for split in ("train", "val", "test"):
            loaders = getattr(self, f"{split}_dataloader")()
            loaders = loaders if isinstance(loaders, (list, tuple)) else [loaders]
            try:
                sizes[split] = sum(len(ld.dataset) for ld in loaders)
            except TypeError:
                sizes[split] = None
        return sizes

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


def parse_resample_spec(spec: str | None) -> tuple[float, float, float] | None:
    """``"LO,HI"`` or ``"LO,HI,P"`` (``0 < LO <= HI``, ``0 < P <= 1``, default 1) as
    ``(LO, HI, P)``; ``None`` or ``""`` as ``None``."""
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return None
    parts = str(spec).split(",") if isinstance(spec, str) else list(spec)
    expected = ("augment_resample must be 'LO,HI' (two speed factors, e.g. '0.71,1.41') or "
                f"'LO,HI,P' (resample a fraction P of the batches, e.g. '0.5,2,0.5'), got {spec!r}")
    try:
        values = [float(p) for p in parts]
    except (TypeError, ValueError):
        raise ValueError(expected) from None
    if len(values) not in (2, 3):
        raise ValueError(expected)
    lo, hi, p = (*values, 1.0) if len(values) == 2 else values
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        raise ValueError(f"augment_resample needs 0 < LO <= HI (finite), got {spec!r}")
    if not 0 < p <= 1:
        raise ValueError(f"augment_resample needs a fraction 0 < P <= 1 of the batches, got {spec!r}")
    return lo, hi, p


def parse_resample_range(spec: str | None) -> tuple[float, float] | None:
    """The speed range ``(LO, HI)`` of an ``augment_resample`` spec (:func:`parse_resample_spec`)."""
    parsed = parse_resample_spec(spec)
    return None if parsed is None else parsed[:2]


def resample_batch(x: torch.Tensor, factor: float, per_series_norm: bool = False) -> torch.Tensor:
    """``x`` (``(..., time)``) resampled by ``factor`` to ``round(time * factor)`` samples.

    Band-limited (:func:`wavelet_networks.testing.resample`, in float64), then,
    with ``per_series_norm``, every series z-scored again (a constant one stays zero).
    """
    from wavelet_networks.testing import resample

    if factor == 1:
        return x
    y = resample(x.double(), factor)
    if per_series_norm:
        std = y.std(dim=-1, keepdim=True, unbiased=False)
        y = (y - y.mean(dim=-1, keepdim=True)) / torch.where(std < 1e-8, 1.0, std)
    return y.to(x.dtype)

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

from collections.abc import Mapping
from typing import Any, ClassVar

import lightning as L
from torch.utils.data import DataLoader

__all__ = ["DATASETS", "WaveformDataModule", "register_dataset"]

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

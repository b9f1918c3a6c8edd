"""ACSF1: the embedded default data set, shipped inside the ``aeon`` wheel.

ACSF1 (UCR/UEA archive) holds electrical power signatures of home appliances:
10 classes, 100 training and 100 test series of 1460 samples each (one channel),
10 series per class in each split. ``aeon.datasets.load_classification("ACSF1")``
reads it from the files bundled with aeon, so nothing is downloaded.

Preprocessing: every series is standardised on its own (per-series z-score:
subtract its mean, divide by its standard deviation, a constant series becomes
zeros). The archive's copy is already close to z-normalised; the step makes the
module's contract explicit and is what ``wavelet-networks predict`` applies to
new inputs (``normalization = "per-series"``).

Validation: a seeded, stratified split carved from the *training* series
(``val_fraction``, default 0.2 = 2 series per class), so the test split never
chooses a checkpoint or a hyperparameter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from wavelet_networks.data._common import make_loader
from wavelet_networks.data.base import WaveformDataModule, register_dataset

__all__ = ["ACSF1DataModule", "standardize_per_series", "stratified_split"]

_NAME = "ACSF1"
_LENGTH = 1460
_NUM_CLASSES = 10


def standardize_per_series(x: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Z-score every series of ``x`` (``(..., time)``) over its time axis, as float32."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, keepdims=True)
    return ((x - mean) / np.where(std < eps, 1.0, std)).astype(np.float32)


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)``: ``round(fraction * n_c)`` of every class ``c`` go to val.

    Every class keeps at least one training example; the split depends only on
    ``labels``, ``fraction`` and ``seed``.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = min(round(fraction * len(idx)), len(idx) - 1)
        val.extend(idx[:k].tolist())
        train.extend(idx[k:].tolist())
    return np.sort(np.array(train, dtype=np.int64)), np.sort(np.array(val, dtype=np.int64))


@register_dataset("acsf1")
class ACSF1DataModule(WaveformDataModule):
    """ACSF1 appliance power signatures (10 classes, 1460 samples, aeon's bundled copy).

    Args:
        root: optional folder holding ``ACSF1/ACSF1_TRAIN.ts`` and
            ``ACSF1/ACSF1_TEST.ts`` (UCR layout); ``None`` reads aeon's bundled copy.
        batch_size: training and evaluation batch size.
        val_fraction: share of every class of the training split held out for validation.
        split_seed: seed of the stratified validation split.
        num_workers: DataLoader worker processes.
        limit_per_class: keep only this many series per class in every split
            (tiny runs for tests); ``None`` keeps all.
        augment_resample: "LO,HI": play every training batch at a random speed in
            [LO, HI] (see :class:`~wavelet_networks.data.WaveformDataModule`).
    """

    task = "multiclass"
    description = (
        "ACSF1 appliance power signatures: 10 classes, 100 train / 100 test series of "
        "1460 samples (bundled with aeon, works offline); val = stratified 20% of train"
    )
    expected_layout = (
        "nothing to download: read from the copy bundled with aeon; or --data.root DIR "
        "with DIR/ACSF1/ACSF1_TRAIN.ts and DIR/ACSF1/ACSF1_TEST.ts"
    )
    normalization = "per-series"

    def __init__(
        self,
        root: str | None = None,
        batch_size: int = 16,
        val_fraction: float = 0.2,
        split_seed: int = 0,
        num_workers: int = 0,
        limit_per_class: int | None = None,
        augment_resample: str | None = None,
    ) -> None:
        super().__init__(augment_resample)
        if root is not None:
            folder = Path(root).expanduser()
            if not folder.is_dir():
                raise FileNotFoundError(
                    f"data directory {str(folder)!r} does not exist; pass an existing folder "
                    "with --data.root or leave it out to use the copy bundled with aeon"
                )
            for split in ("TRAIN", "TEST"):
                ts = folder / _NAME / f"{_NAME}_{split}.ts"
                if not ts.is_file():
                    raise FileNotFoundError(
                        f"{str(ts)!r} not found; --data.root must hold "
                        f"{_NAME}/{_NAME}_TRAIN.ts and {_NAME}/{_NAME}_TEST.ts"
                    )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if limit_per_class is not None and limit_per_class < 2:
            raise ValueError(f"limit_per_class must be >= 2 or None, got {limit_per_class}")
        stratified_split(np.zeros(10), val_fraction, 0)  # validates val_fraction early
        self.root = root
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.num_workers = num_workers
        self.limit_per_class = limit_per_class
        self._splits: dict[str, TensorDataset] = {}

    @property
    def num_classes(self) -> int:
        return _NUM_CLASSES

    @property
    def class_names(self) -> list[str]:
        # The archive names the ten appliance classes only by index ("0".."9").
        return [str(i) for i in range(_NUM_CLASSES)]

    @property
    def input_length(self) -> int:
        return _LENGTH

    def _load(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        from aeon.datasets import load_classification

        kwargs = {"extract_path": str(Path(self.root).expanduser())} if self.root else {}
        x, y = load_classification(_NAME, split=split, **kwargs)
        labels = np.array([int(v) for v in y], dtype=np.int64)
        labels -= labels.min()
        if self.limit_per_class is not None:
            keep = np.concatenate(
                [np.flatnonzero(labels == c)[: self.limit_per_class] for c in np.unique(labels)]
            )
            keep.sort()
            x, labels = x[keep], labels[keep]
        return standardize_per_series(x), labels

    def setup(self, stage: str | None = None) -> None:
        if self._splits:
            return
        x, y = self._load("train")
        train_idx, val_idx = stratified_split(y, self.val_fraction, self.split_seed)
        xt, yt = self._load("test")

        def ds(a: np.ndarray, b: np.ndarray) -> TensorDataset:
            return TensorDataset(torch.from_numpy(np.ascontiguousarray(a)), torch.from_numpy(b))

        self._splits = {
            "train": ds(x[train_idx], y[train_idx]),
            "val": ds(x[val_idx], y[val_idx]),
            "test": ds(xt, yt),
        }

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        # Shuffling follows the run's seed (--seed_everything sets torch's initial seed).
        return make_loader(
            self._splits[split], self.batch_size, shuffle, self.num_workers, torch.initial_seed()
        )


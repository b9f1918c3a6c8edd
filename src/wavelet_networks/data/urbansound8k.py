"""UrbanSound8K (Salamon, Jacoby & Bello 2014): 8732 urban sound excerpts (<= 4 s), 10 classes.

Protocols:

- ``protocol="cv"`` (official): 10-fold cross-validation over the predefined
  folds. ``fold=k`` tests on fold ``k``; ``val_fold`` (default: the fold before
  ``k``, cyclically, so fold 1 validates on fold 10) chooses checkpoints; the
  other eight folds train.
- ``protocol="paper"``: the paper code's "train on folds 1-9, test on fold 10".
  The original code validated on the test fold; here validation never touches
  the test data: either ``val_fold`` (one of 1-9, removed from training) or,
  by default, a seeded ``val_fraction`` of folds 1-9 split by ``fsID`` (the
  Freesound recording), so slices of one recording never straddle train and
  validation.

Clips are mixed to mono, resampled to ``sample_rate`` (22050 Hz for the M-nets,
16000 Hz for the 1D-CNN) and zero padded, centred, to ``clip_seconds`` (4 s).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import ClassVar

import numpy as np

from wavelet_networks.data._common import AudioClipDataModule, check_choice, require
from wavelet_networks.data.base import register_dataset

__all__ = ["CLASSES", "UrbanSound8KDataModule", "read_metadata"]

#: Class names in classID order (0-9), as in the metadata CSV.
CLASSES = (
    "air_conditioner",
    "car_horn",
    "children_playing",
    "dog_bark",
    "drilling",
    "engine_idling",
    "gun_shot",
    "jackhammer",
    "siren",
    "street_music",
)

COLUMNS = ("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class")
METADATA = Path("metadata") / "UrbanSound8K.csv"


def read_metadata(root: str | Path) -> list[dict[str, str]]:
    """Rows of ``root/metadata/UrbanSound8K.csv`` as dicts keyed by :data:`COLUMNS`.

    Raises:
        FileNotFoundError: the CSV is missing (names the path expected).
        ValueError: a column is missing.
    """
    path = require(
        Path(root) / METADATA,
        "the UrbanSound8K metadata CSV (columns: " + ", ".join(COLUMNS) + ")",
    )
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} lacks the column(s) {missing}")
        return list(reader)


@register_dataset("urbansound8k")
class UrbanSound8KDataModule(AudioClipDataModule):
    """UrbanSound8K with the official 10-fold protocol or the paper's train 1-9 / test 10.

    Args:
        root: the extracted ``UrbanSound8K`` folder.
        fold: test fold (1-10) for ``protocol="cv"``; must stay 10 for ``"paper"``.
        protocol: ``"cv"`` or ``"paper"`` (see the module docstring).
        val_fold: validation fold; ``None`` picks the default of the protocol.
        val_fraction: share of the training recordings (by ``fsID``) held out for
            validation under ``protocol="paper"`` when ``val_fold`` is None.
        sample_rate: Hz (22050 for the M-nets, 16000 for the 1D-CNN).
        clip_seconds: clip length; shorter clips are centred-padded with zeros.
        batch_size: examples per batch.
        num_workers: DataLoader worker processes (0: load in the main process).
        on_error: ``"skip"`` (warn naming each broken file, drop it) or ``"raise"``.
        cache: ``"none"`` (decode and resample every epoch), ``"memory"`` (decode
            once at ``setup``; about 2.8 GB at 22.05 kHz, shared with workers
            started by fork, as on Linux, copied into each one otherwise) or ``"disk"`` (decode
            once into a float16/float32 memmap under ``cache_dir``, reused by
            later runs; about 1.4 GB at 22.05 kHz in float16).
        cache_dir: where ``cache="disk"`` writes (default
            ``$WAVELET_NETWORKS_CACHE`` or ``~/.cache/wavelet_networks``).
        cache_dtype: ``"float16"`` or ``"float32"``.
        train_crop: ``"center"`` or ``"random"`` crop of training clips longer
            than ``clip_seconds`` (UrbanSound8K clips are at most 4 s, so this
            matters only for shorter ``clip_seconds``).
        seed: seeds shuffling and the ``val_fraction`` split.
        augment_resample: "LO,HI": play every training batch at a random speed in
            [LO, HI] (see :class:`~wavelet_networks.data.WaveformDataModule`).
    """

    description = "UrbanSound8K: 8732 urban sound clips (<= 4 s), 10 classes, 10 predefined folds"
    #: ``wavelet-networks cv`` runs folds 1..num_folds (``--data.fold K``).
    num_folds: ClassVar[int] = 10
    expected_layout = (
        "UrbanSound8K/\n"
        "  metadata/UrbanSound8K.csv\n"
        "      (columns slice_file_name,fsID,start,end,salience,fold,classID,class)\n"
        "  audio/fold1/*.wav ... audio/fold10/*.wav"
    )

    def __init__(
        self,
        root: str,
        fold: int = 10,
        protocol: str = "cv",
        val_fold: int | None = None,
        val_fraction: float = 0.1,
        sample_rate: int = 22050,
        clip_seconds: float = 4.0,
        batch_size: int = 8,
        num_workers: int = 0,
        on_error: str = "skip",
        cache: str = "none",
        cache_dir: str | None = None,
        cache_dtype: str = "float16",
        train_crop: str = "center",
        seed: int = 0,
        augment_resample: str | None = None,
    ) -> None:
        super().__init__(
            root=root,
            sample_rate=sample_rate,
            clip_seconds=clip_seconds,
            batch_size=batch_size,
            num_workers=num_workers,
            on_error=on_error,
            cache=cache,
            cache_dir=cache_dir,
            cache_dtype=cache_dtype,
            train_crop=train_crop,
            seed=seed,
            augment_resample=augment_resample,
        )
        check_choice("protocol", protocol, ("cv", "paper"))
        if protocol == "paper" and fold != 10:
            raise ValueError(
                f"protocol='paper' always tests on fold 10, got fold={fold}; "
                "use protocol='cv' to test on another fold"
            )
        test_fold = fold if protocol == "cv" else 10
        check_choice("fold", test_fold, range(1, 11))
        if val_fold is None and protocol == "cv":
            val_fold = (test_fold - 2) % 10 + 1
        if val_fold is not None:
            check_choice("val_fold", val_fold, range(1, 11))
            if val_fold == test_fold:
                raise ValueError(f"val_fold must differ from the test fold {test_fold}")
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        self.fold = test_fold
        self.protocol = protocol
        self.val_fold = val_fold
        self.val_fraction = val_fraction
        self.save_hyperparameters()

    @property
    def class_names(self) -> list[str]:
        return list(CLASSES)

    def split_of(self, fold: int, fsid: str, val_ids: set[str]) -> str:
        """The split (train/val/test) of a clip from ``fold`` and recording ``fsid``."""
        if fold == self.fold:
            return "test"
        if self.val_fold is not None:
            return "val" if fold == self.val_fold else "train"
        return "val" if fsid in val_ids else "train"

    def _index(self) -> list[tuple[str, int, str]]:
        require(self.root, "the extracted UrbanSound8K folder:\n" + self.expected_layout)
        rows = read_metadata(self.root)
        val_ids: set[str] = set()
        if self.val_fold is None:  # paper protocol: hold out recordings of folds 1-9
            ids = sorted({r["fsID"] for r in rows if int(r["fold"]) != self.fold})
            rng = np.random.default_rng(self.seed)
            n_val = max(1, round(self.val_fraction * len(ids)))
            val_ids = {ids[i] for i in rng.permutation(len(ids))[:n_val]}
        out = []
        for r in rows:
            fold = int(r["fold"])
            key = f"audio/fold{fold}/{r['slice_file_name']}"
            out.append((key, int(r["classID"]), self.split_of(fold, r["fsID"], val_ids)))
        return out

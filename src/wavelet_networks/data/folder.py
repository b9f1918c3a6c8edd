"""Your own audio data: a folder per class, or a CSV of ``path,label[,split]``.

``root`` is either

- a folder with one sub-folder per class (``root/<class>/**/<file>.wav``;
  wav/flac/ogg/mp3/aiff, any rate, bit depth, mono or stereo), or
- a CSV file with the columns ``path`` (relative to the CSV's folder, or
  absolute) and ``label``, optionally ``split`` (``train``/``val``/``test``), or
- a folder holding such a CSV named ``labels.csv``.

Without a ``split`` column the files are split per class (stratified) into
train/val/test by ``val_fraction`` and ``test_fraction``, deterministically for
a given ``seed``; the split is decided on the full file list, so a file that
fails to decode is dropped without moving any other file to another split.

Every clip goes through the shared audio pipeline: mono, resampled to
``sample_rate``, centred zero padding / cropping to ``clip_seconds``.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from wavelet_networks.data._common import AudioClipDataModule, require
from wavelet_networks.data.audio import AUDIO_EXTENSIONS
from wavelet_networks.data.base import register_dataset

__all__ = ["FolderDataModule", "stratified_split"]

_SPLIT_NAMES = {
    "train": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
}


def stratified_split(
    labels: list[str], val_fraction: float, test_fraction: float, seed: int
) -> list[str]:
    """A train/val/test name for each item, stratified by label and seeded.

    Within each label the items (in their given order) are permuted with
    ``numpy.random.default_rng(seed)``; the first ``round(test_fraction * n)``
    go to test, the next ``round(val_fraction * n)`` to val, the rest to train.
    """
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, y in enumerate(labels):
        by_label[y].append(i)
    out = ["train"] * len(labels)
    for y in sorted(by_label):
        idx = by_label[y]
        perm = [idx[k] for k in rng.permutation(len(idx))]
        n_test = round(test_fraction * len(idx))
        n_val = round(val_fraction * len(idx))
        for k, i in enumerate(perm):
            out[i] = "test" if k < n_test else "val" if k < n_test + n_val else "train"
    return out


@register_dataset("folder")
class FolderDataModule(AudioClipDataModule):
    """Single-label classification of your own audio files.

    Args:
        root: class folders, a ``path,label[,split]`` CSV, or a folder with
            ``labels.csv`` (see the module docstring).
        sample_rate: Hz every clip is resampled to.
        clip_seconds: clip length (centred zero padding / cropping).
        val_fraction: per-class share for validation when there is no ``split`` column.
        test_fraction: per-class share for test when there is no ``split`` column.

    ``batch_size``, ``num_workers``, ``on_error``, ``cache``, ``cache_dir``,
    ``cache_dtype``, ``train_crop`` and ``seed`` are as for
    :class:`~wavelet_networks.data.urbansound8k.UrbanSound8KDataModule`.
    """

    description = "your own audio: a folder per class, or a CSV of path,label[,split]"
    expected_layout = (
        "root/<class name>/<files>.wav|flac|ogg|mp3   (one folder per class)\n"
        "or a CSV (root itself, or root/labels.csv) with columns path,label[,split]"
    )

    def __init__(
        self,
        root: str,
        sample_rate: int = 16000,
        clip_seconds: float = 4.0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        batch_size: int = 16,
        num_workers: int = 0,
        on_error: str = "skip",
        cache: str = "none",
        cache_dir: str | None = None,
        cache_dtype: str = "float16",
        train_crop: str = "random",
        seed: int = 0,
    ) -> None:
        if min(val_fraction, test_fraction) < 0 or val_fraction + test_fraction >= 1:
            raise ValueError("val_fraction and test_fraction must be >= 0 and sum to < 1")
        path = Path(root).expanduser()
        csv_path = path if path.suffix.lower() == ".csv" else path / "labels.csv"
        self.csv_path: Path | None = csv_path if csv_path.is_file() else None
        super().__init__(
            root=str(self.csv_path.parent if self.csv_path else path),
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
        )
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self._rows: list[tuple[str, str, str | None]] | None = None
        self.save_hyperparameters()

    @classmethod
    def run_name(cls, init_args: Mapping[str, Any]) -> str:
        """``folder/<name of root>`` (a CSV: its folder's name, plus its stem unless ``labels``)."""
        root = init_args.get("root")
        if not root:
            return cls.name
        path = Path(str(root)).expanduser().resolve()
        if path.suffix.lower() == ".csv":
            name = path.parent.name if path.stem == "labels" else f"{path.parent.name}-{path.stem}"
        else:
            name = path.name
        return f"{cls.name}/{name}" if name else cls.name

    def _files(self) -> list[tuple[str, str, str | None]]:
        """``(key, label, split or None)`` for every file, sorted by key."""
        if self._rows is not None:
            return self._rows
        require(self.root, "audio files laid out as\n" + self.expected_layout)
        rows: list[tuple[str, str, str | None]] = []
        if self.csv_path is not None:
            with self.csv_path.open(newline="") as f:
                reader = csv.DictReader(f)
                fields = reader.fieldnames or []
                if "path" not in fields or "label" not in fields:
                    raise ValueError(
                        f"{self.csv_path}: needs columns 'path' and 'label', has {fields}"
                    )
                for line, r in enumerate(reader, start=2):
                    split = None
                    if "split" in fields:
                        split = _SPLIT_NAMES.get((r["split"] or "").strip().lower())
                        if split is None:
                            raise ValueError(
                                f"{self.csv_path}:{line}: split {r['split']!r} is not one of "
                                "train, val, test"
                            )
                    rows.append((r["path"], r["label"], split))
        else:
            dirs = [p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")]
            for d in sorted(dirs):
                for f in sorted(d.rglob("*")):
                    if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS:
                        rows.append((f.relative_to(self.root).as_posix(), d.name, None))
        if not rows:
            raise FileNotFoundError(
                f"no audio files found under {self.root}; expected\n{self.expected_layout}"
            )
        self._rows = sorted(rows)
        return self._rows

    def _cache_name(self) -> str:
        # Different folders must not share cache entries (keys are relative paths).
        digest = hashlib.sha1(str(self.root.resolve()).encode()).hexdigest()[:10]
        return f"folder-{digest}"

    @property
    def class_names(self) -> list[str]:
        return sorted({y for _, y, _ in self._files()})

    def _index(self) -> list[tuple[str, int, str]]:
        rows = self._files()
        index = {c: i for i, c in enumerate(self.class_names)}
        splits = [s for _, _, s in rows]
        if any(s is None for s in splits):
            splits = stratified_split(
                [y for _, y, _ in rows], self.val_fraction, self.test_fraction, self.seed
            )
        return [(k, index[y], s) for (k, y, _), s in zip(rows, splits, strict=True)]

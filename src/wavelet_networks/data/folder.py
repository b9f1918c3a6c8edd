"""Your own audio data: a folder per class, or a CSV of ``path,label[,split]``.

``root`` is either

- a folder with one sub-folder per class (``root/<class>/**/<file>.wav``;
  wav/flac/ogg/mp3/aiff, any rate, bit depth, mono or stereo), or
- a CSV file with the columns ``path`` (relative to the CSV's folder, or
  absolute) and ``label``, optionally ``split`` (``train``/``val``/``test``), or
- a folder holding such a CSV named ``labels.csv``.

A CSV is checked row by row before anything is read from the files it lists:
UTF-8 text (a byte-order mark is allowed), every row as many fields as the
header, no empty path or label, no path listed twice, every listed file a
regular file if it exists (not a FIFO, folder or device, which would hang or
fail the reader), and no path outside the CSV's folder unless
``allow_outside_paths`` is true (``../`` or an absolute path elsewhere: a CSV
from someone else must not make the training read arbitrary files). Each
violation is a ``ValueError`` naming the file and line. A data set needs at
least two classes.

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
import io
import os
import stat
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


def _special_kind(path: Path) -> str:
    """``"a FIFO"``, ``"a folder"``, ... if ``path`` exists and is not a regular file, else ``""``."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return ""  # missing or unreadable: the on_error policy deals with it
    if stat.S_ISREG(mode):
        return ""
    kinds = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISDIR, "a folder"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "a special file")


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
        allow_outside_paths: accept CSV paths outside the CSV's folder.

    ``batch_size``, ``num_workers``, ``on_error``, ``cache``, ``cache_dir``,
    ``cache_dtype``, ``train_crop``, ``seed`` and ``augment_resample`` are as for
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
        allow_outside_paths: bool = False,
        augment_resample: str | None = None,
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
            augment_resample=augment_resample,
        )
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.allow_outside_paths = allow_outside_paths
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
        if self.csv_path is None and not self.root.is_dir():
            raise ValueError(f"{self.root} is a file but not a .csv file; expected a folder with "
                             "one sub-folder per class, or a CSV with columns path,label[,split]")
        rows: list[tuple[str, str, str | None]] = []
        if self.csv_path is not None:
            rows = self._csv_rows(self.csv_path)
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
        labels = sorted({y for _, y, _ in rows})
        if len(labels) < 2:
            where = self.csv_path or self.root
            raise ValueError(f"{where}: every file has the label {labels[0]!r}; a classifier "
                             "needs at least two classes")
        self._rows = sorted(rows)
        return self._rows

    def _csv_rows(self, csv_path: Path) -> list[tuple[str, str, str | None]]:
        """The checked rows of a ``path,label[,split]`` CSV (see the module docstring)."""
        raw = csv_path.read_bytes()
        if b"\x00" in raw:
            raise ValueError(f"{csv_path}: not a text file (it holds NUL bytes); expected a CSV "
                             "with columns path,label[,split]")
        try:
            text = raw.decode("utf-8-sig")  # tolerates the byte-order mark spreadsheets write
        except UnicodeDecodeError as exc:
            raise ValueError(f"{csv_path}: not UTF-8 text (byte {exc.start}); expected a CSV with "
                             "columns path,label[,split]") from None
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = [h.strip() for h in next(reader, [])]
        except csv.Error as exc:
            raise ValueError(f"{csv_path}:1: {exc}") from None
        if "path" not in header or "label" not in header:
            raise ValueError(f"{csv_path}: needs columns 'path' and 'label', has {header}")
        col = {name: i for i, name in enumerate(header)}
        base = Path(os.path.normpath(self.root.absolute()))
        rows: list[tuple[str, str, str | None]] = []
        first_seen: dict[str, tuple[int, str]] = {}
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise ValueError(f"{csv_path}:{reader.line_num}: {exc}") from None
            line = reader.line_num
            if not any(f.strip() for f in fields):
                continue  # blank line
            if len(fields) != len(header):
                raise ValueError(f"{csv_path}:{line}: {len(fields)} fields, expected "
                                 f"{len(header)} ({','.join(header)})")
            path, label = fields[col["path"]].strip(), fields[col["label"]].strip()
            if not path or not label:
                missing = "path" if not path else f"label (path {path!r})"
                raise ValueError(f"{csv_path}:{line}: empty {missing}")
            split = None
            if "split" in col:
                split = _SPLIT_NAMES.get(fields[col["split"]].strip().lower())
                if split is None:
                    raise ValueError(f"{csv_path}:{line}: split {fields[col['split']]!r} is not "
                                     "one of train, val, test")
            full = Path(os.path.normpath(base / Path(path).expanduser()))
            inside = full.is_relative_to(base)
            if not inside and not self.allow_outside_paths:
                raise ValueError(
                    f"{csv_path}:{line}: path {path!r} is outside the CSV's folder {base}; "
                    "move the files under it, or pass --data.allow_outside_paths true"
                )
            key = full.relative_to(base).as_posix() if inside else full.as_posix()
            if key in first_seen:
                first_line, first_label = first_seen[key]
                labels = (f" with label {first_label!r} there and {label!r} here"
                          if first_label != label else "")
                raise ValueError(f"{csv_path}:{line}: {path!r} is listed again (first on line "
                                 f"{first_line}{labels}); list every file once")
            first_seen[key] = (line, label)
            kind = _special_kind(full)
            if kind:
                raise ValueError(f"{csv_path}:{line}: {path!r} is {kind}, not a regular file; "
                                 "expected an audio file")
            rows.append((key, label, split))
        return rows

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

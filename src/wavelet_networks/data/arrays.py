"""Time series held as numpy arrays: ``.npy``/``.npz`` files, or arrays passed in Python.

The layout time-series libraries (aeon, sktime, tslearn) use: ``X`` of shape
``(n_series, length)`` or ``(n_series, channels, length)``, ``y`` one label
per series, of any type numpy can sort (ints, strings, ...).

``root`` is either

- a ``.npz`` file holding the arrays ``X_train``, ``y_train`` and optionally
  ``X_test``, ``y_test``, ``X_val``, ``y_val`` (or ``X``, ``y``: one pool of series), or
- a folder holding the same arrays as ``.npy`` files (``X_train.npy``, ...).

Splits: a given test split is used as it is (it never chooses a checkpoint or a
hyperparameter); a given validation split too. Without a validation split,
``val_fraction`` of every class of the training series is held out (stratified,
seeded by ``split_seed``). Without a test split (``X``, ``y`` only), shares
``test_fraction`` and ``val_fraction`` of every class of the whole pool go to
test and validation, as the ``folder`` data module splits its files.

Preprocessing (``normalize``): ``"per-series"`` z-scores every channel of every
series over time (subtract its mean, divide by its standard deviation; a
constant channel becomes zeros), what ``wavelet-networks predict`` repeats on
new inputs; ``"none"`` keeps the values as given.

Classes: the sorted distinct training labels (numeric labels given as
strings, as in the UCR archive's files, sort by value); class index ``i`` of
the model is ``classes[i]``. A test or validation label that never occurs in
training is an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from wavelet_networks.data._common import make_loader
from wavelet_networks.data.acsf1 import standardize_per_series, stratified_split
from wavelet_networks.data.base import WaveformDataModule, register_dataset
from wavelet_networks.data.folder import stratified_split as pool_split

__all__ = ["ArrayDataModule", "SeriesDataModule", "SeriesSplits", "as_series", "encode_labels"]

Normalize = Literal["per-series", "none"]
_SPLITS = ("train", "val", "test")


def as_series(x: Any, what: str = "X") -> np.ndarray:
    """``x`` as float32 ``(n_series, channels, length)``, checked.

    Accepts ``(n_series, length)`` (one channel) or ``(n_series, channels, length)``
    of any real dtype. Raises ValueError naming ``what`` for another number of
    dimensions, a non-numeric dtype, an empty array or non-finite values.
    """
    try:
        a = np.asarray(x)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(
            f"{what} must be an array (n_series, length) or (n_series, channels, length) "
            f"of equal-length series; numpy could not make one array of it: {exc}"
        ) from None
    if a.dtype == object or not (
        np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.bool_)
    ) or np.issubdtype(a.dtype, np.complexfloating):
        raise ValueError(f"{what} must hold real numbers, got dtype {a.dtype}")
    if a.ndim == 2:
        a = a[:, None, :]
    if a.ndim != 3:
        raise ValueError(
            f"{what} must be (n_series, length) or (n_series, channels, length), "
            f"got shape {a.shape}"
        )
    if 0 in a.shape:
        raise ValueError(f"{what} is empty (shape {a.shape}); expected at least one series")
    a = a.astype(np.float32)
    bad = ~np.isfinite(a)
    if bad.any():
        rows = int(bad.any(axis=(1, 2)).sum())
        raise ValueError(
            f"{what} holds {int(bad.sum())} NaN or infinite values in {rows} series; "
            "remove those series or fill the gaps first (for the UCR archive's sets with "
            "missing values, the ucr data module's missing='interpolate' does that)"
        )
    return a


def _sort_key(values: np.ndarray) -> np.ndarray:
    """Order of distinct labels: by numeric value when strings all parse as numbers."""
    if values.dtype.kind in "US":
        try:
            return np.argsort(values.astype(np.float64), kind="stable")
        except ValueError:
            pass
    return np.arange(len(values))


def encode_labels(y: Any, what: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """``(classes, codes)``: the sorted distinct labels of ``y`` and each label's index."""
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"{what} must hold one label per series (shape (n_series,)), got "
                         f"shape {a.shape}")
    try:
        classes, codes = np.unique(a, return_inverse=True)
    except TypeError as exc:
        raise ValueError(f"{what}: labels must be of one sortable type (all numbers or all "
                         f"strings): {exc}") from None
    if classes.dtype.kind == "f" and np.isnan(classes).any():
        raise ValueError(f"{what} holds NaN labels")
    order = _sort_key(classes)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return classes[order], rank[codes.reshape(-1)].astype(np.int64)


def _codes_in(classes: np.ndarray, y: Any, what: str) -> np.ndarray:
    """Indices into ``classes`` of the labels ``y``; ValueError for unseen labels."""
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"{what} must hold one label per series, got shape {a.shape}")
    index = {v: i for i, v in enumerate(classes.tolist())}
    try:
        codes = [index.get(v, -1) for v in a.tolist()]
    except TypeError:  # unhashable labels
        raise ValueError(f"{what}: labels must be numbers or strings") from None
    unseen = sorted({str(v) for v, c in zip(a.tolist(), codes, strict=True) if c < 0})
    if unseen:
        raise ValueError(
            f"{what} holds labels that never occur in the training labels: "
            f"{', '.join(unseen[:5])}{' ...' if len(unseen) > 5 else ''} "
            f"(training classes: {', '.join(map(str, classes.tolist()[:10]))})"
        )
    return np.asarray(codes, dtype=np.int64)


class SeriesSplits:
    """Raw series and labels as loaded: train always, val and test when the source has them."""

    def __init__(self, **arrays: Any) -> None:
        for split in _SPLITS:
            x, y = arrays.get(f"X_{split}"), arrays.get(f"y_{split}")
            if (x is None) != (y is None):
                missing = f"y_{split}" if y is None else f"X_{split}"
                raise ValueError(f"X_{split} and y_{split} go together; {missing} is missing")
        if arrays.get("X_train") is None:
            raise ValueError("no training series: X_train and y_train are required")
        self.arrays = arrays

    def get(self, split: str) -> tuple[Any, Any] | None:
        x = self.arrays.get(f"X_{split}")
        return None if x is None else (x, self.arrays[f"y_{split}"])


class SeriesDataModule(WaveformDataModule):
    """Shared machinery of the in-memory series data modules (not registered).

    Subclasses implement :meth:`_load`, returning :class:`SeriesSplits`.
    This class checks the arrays, encodes the labels, carves the missing
    validation (and test) split from the training series, normalises and
    builds the loaders.

    Batches: ``x`` float32 ``(batch, channels, length)``, ``y`` int64 ``(batch,)``.
    """

    task = "multiclass"
    #: True where :meth:`_load` returns series already normalised as ``normalize`` asks.
    _normalizes_in_load: bool = False

    def __init__(
        self,
        batch_size: int = 16,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        num_workers: int = 0,
        normalize: Normalize = "per-series",
        augment_resample: str | None = None,
    ) -> None:
        super().__init__(augment_resample)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        if normalize not in ("per-series", "none"):
            raise ValueError(f"normalize must be 'per-series' or 'none', got {normalize!r}")
        for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0.0 < value < 1.0:
                raise ValueError(f"{key} must be in (0, 1), got {value}")
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        self.num_workers = num_workers
        self.normalize = normalize
        self._splits: dict[str, TensorDataset] = {}
        self._classes: np.ndarray | None = None
        self._shape: tuple[int, int] | None = None

    # -- interface ---------------------------------------------------------
    def _load(self) -> SeriesSplits:
        raise NotImplementedError

    @property
    def normalization(self) -> str | None:
        """What ``wavelet-networks predict`` applies to new inputs (``None``: nothing)."""
        return "per-series" if self.normalize == "per-series" else None

    @property
    def classes(self) -> np.ndarray:
        """The distinct training labels as given (sorted); class index ``i`` is ``classes[i]``."""
        self.setup()
        assert self._classes is not None
        return self._classes

    @property
    def class_names(self) -> list[str]:
        return [str(c) for c in self.classes.tolist()]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        self.setup()
        assert self._shape is not None
        return self._shape[0]

    @property
    def input_length(self) -> int:
        self.setup()
        assert self._shape is not None
        return self._shape[1]

    def split_sizes(self) -> dict[str, int]:
        """Number of series in each split."""
        self.setup()
        return {k: len(v) for k, v in self._splits.items()}

    def split_arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x (n, channels, length) float32, y (n,) int64)`` of ``split``, in order, unshuffled."""
        self.setup()
        x, y = self._splits[split].tensors
        return x.numpy(), y.numpy()

    # -- building ----------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        """Load, check, split and normalise (once)."""
        if self._splits:
            return
        raw = self._load()
        x_train = as_series(raw.get("train")[0], "X_train")  # type: ignore[index]
        classes, y_train = encode_labels(raw.get("train")[1], "y_train")  # type: ignore[index]
        if len(y_train) != len(x_train):
            raise ValueError(f"X_train has {len(x_train)} series but y_train {len(y_train)} "
                             "labels; expected one label per series")
        if len(classes) < 2:
            raise ValueError(f"the training labels hold {len(classes)} class "
                             f"({', '.join(map(str, classes.tolist()))}); a classifier needs "
                             "at least 2")
        parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for split in ("test", "val"):
            given = raw.get(split)
            if given is None:
                continue
            x = as_series(given[0], f"X_{split}")
            y = _codes_in(classes, given[1], f"y_{split}")
            if len(y) != len(x):
                raise ValueError(f"X_{split} has {len(x)} series but y_{split} {len(y)} "
                                 "labels; expected one label per series")
            if x.shape[1:] != x_train.shape[1:]:
                raise ValueError(
                    f"X_{split} has series of shape (channels, length) = {x.shape[1:]}, "
                    f"X_train {x_train.shape[1:]}; all splits must share them (resample, crop "
                    "or pad the series first)"
                )
            parts[split] = (x, y)
        if "test" not in parts:
            # One pool: shares of every class go to test and (unless given) val,
            # as the folder data module splits its files.
            val_fraction = 0.0 if "val" in parts else self.val_fraction
            names = np.array(pool_split(y_train.tolist(), val_fraction, self.test_fraction,
                                        self.split_seed))
            for split in ("test", "val"):
                if split not in parts:
                    parts[split] = (x_train[names == split], y_train[names == split])
            x_train, y_train = x_train[names == "train"], y_train[names == "train"]
        if "val" not in parts:
            keep, val = stratified_split(y_train, self.val_fraction, self.split_seed)
            parts["val"] = (x_train[val], y_train[val])
            x_train, y_train = x_train[keep], y_train[keep]
        parts["train"] = (x_train, y_train)
        if min(len(y) for _, y in parts.values()) == 0:
            empty = [s for s, (_, y) in parts.items() if len(y) == 0]
            raise ValueError(f"the {', '.join(empty)} split is empty ({len(x_train)} training "
                             "series); give more series or a validation/test split")
        self._classes = classes
        self._shape = (int(x_train.shape[1]), int(x_train.shape[2]))
        per_series = self.normalize == "per-series" and not self._normalizes_in_load
        norm = standardize_per_series if per_series else np.asarray
        self._splits = {
            split: TensorDataset(
                torch.from_numpy(np.ascontiguousarray(norm(x), dtype=np.float32)),
                torch.from_numpy(y),
            )
            for split, (x, y) in ((s, parts[s]) for s in _SPLITS)
        }

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        # Shuffling follows the run's seed (--seed_everything sets torch's initial seed).
        return make_loader(
            self._splits[split], self.batch_size, shuffle, self.num_workers, torch.initial_seed()
        )


_KEYS = tuple(f"{a}_{s}" for s in _SPLITS for a in ("X", "y"))


@register_dataset("numpy")
class ArrayDataModule(SeriesDataModule):
    """Classification of series held as numpy arrays (files, or arrays from Python).

    Args:
        root: a ``.npz`` file or a folder of ``.npy`` files with the arrays
            ``X_train``, ``y_train`` [``X_test``, ``y_test``] [``X_val``,
            ``y_val``], or ``X``, ``y`` (see the module docstring).
            ``None`` with arrays given through :meth:`from_arrays`.
        batch_size: training and evaluation batch size.
        val_fraction: share of every class of the training series held out
            for validation when no validation split is given.
        test_fraction: share of every class held out for testing when no test
            split is given.
        split_seed: seed of the stratified splits.
        num_workers: DataLoader worker processes.
        normalize: ``"per-series"`` (z-score every channel of every series) or ``"none"``.
        augment_resample: "LO,HI": play every training batch at a random speed in
            [LO, HI] (see :class:`~wavelet_networks.data.WaveformDataModule`).
    """

    description = (
        "series as numpy arrays (n, length) or (n, channels, length): a .npz file or a folder "
        "of .npy files; official train/test when given, val = stratified share of train"
    )
    expected_layout = (
        "a .npz file (or a folder of .npy files) with arrays X_train, y_train and optionally\n"
        "X_test, y_test, X_val, y_val; or X, y (test and val then split off, stratified)"
    )

    def __init__(
        self,
        root: str | None = None,
        batch_size: int = 16,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        num_workers: int = 0,
        normalize: Normalize = "per-series",
        augment_resample: str | None = None,
    ) -> None:
        super().__init__(batch_size, val_fraction, test_fraction, split_seed, num_workers,
                         normalize, augment_resample)
        self.root = None if root is None else Path(root).expanduser()
        if self.root is not None and not self.root.exists():
            raise FileNotFoundError(
                f"{str(self.root)!r} does not exist; expected {self.expected_layout}"
            )
        self._given: SeriesSplits | None = None
        self.save_hyperparameters()

    @classmethod
    def from_arrays(
        cls,
        X_train: Any,
        y_train: Any,
        X_test: Any = None,
        y_test: Any = None,
        X_val: Any = None,
        y_val: Any = None,
        **kwargs: Any,
    ) -> ArrayDataModule:
        """A data module on arrays in memory; ``kwargs`` as for the constructor (no ``root``).

        >>> import numpy as np
        >>> dm = ArrayDataModule.from_arrays(np.random.randn(20, 50), np.arange(20) % 2)
        >>> dm.setup(); dm.split_sizes()
        {'train': 12, 'val': 4, 'test': 4}
        """
        if "root" in kwargs:
            raise TypeError("from_arrays takes arrays, not root")
        dm = cls(**kwargs)
        dm._given = SeriesSplits(X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test,
                                 X_val=X_val, y_val=y_val)
        return dm

    def _load(self) -> SeriesSplits:
        if self._given is not None:
            return self._given
        if self.root is None:
            raise ValueError("no data: pass root (a .npz file or a folder of .npy files) or "
                             "build the module with ArrayDataModule.from_arrays(...)")
        arrays = _read_arrays(self.root)
        if "X_train" not in arrays and "X" in arrays:
            arrays["X_train"], arrays["y_train"] = arrays.pop("X"), arrays.pop("y", None)
        if "X_train" not in arrays or arrays.get("y_train") is None:
            raise ValueError(
                f"{str(self.root)!r} holds the arrays {sorted(arrays) or 'none'}; expected "
                "X_train and y_train (or X and y), optionally X_test, y_test, X_val, y_val"
            )
        return SeriesSplits(**arrays)


def _read_arrays(root: Path) -> dict[str, np.ndarray]:
    """The named arrays of a ``.npz`` file or of the ``.npy`` files of a folder."""
    names = (*_KEYS, "X", "y")
    if root.is_dir():
        found = {n: root / f"{n}.npy" for n in names if (root / f"{n}.npy").is_file()}
        if not found:
            raise FileNotFoundError(
                f"{str(root)!r} holds none of {', '.join(f'{n}.npy' for n in names)}; expected "
                "X_train.npy and y_train.npy (or X.npy and y.npy)"
            )
        return {n: _load_npy(p) for n, p in found.items()}
    if root.suffix.lower() != ".npz":
        raise ValueError(f"{str(root)!r}: expected a .npz file or a folder of .npy files")
    try:
        with np.load(root, allow_pickle=False) as z:
            return {k: z[k] for k in z.files if k in names}
    except Exception as exc:
        raise ValueError(f"cannot read {str(root)!r} as a .npz archive: {exc}") from None


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"cannot read {str(path)!r} as a .npy array: {exc}") from None


"""Case Western Reserve University (CWRU) bearing faults: the usual 10-class, 12 kHz drive-end task.

Each CWRU recording is a MATLAB file whose variables are named after the
recording number ``nnn``: ``Xnnn_DE_time`` (drive-end accelerometer),
``Xnnn_FE_time`` (fan end), ``Xnnn_BA_time`` (base; not in the normal files)
and ``XnnnRPM``. The classes are normal + inner race (IR), ball (B) and outer
race centred at 6:00 (OR) faults of 0.007, 0.014 and 0.021 inch, each recorded
at motor loads 0-3 hp (:data:`FILE_TABLE`, numbers as on the CWRU download
pages; four files per class, one per load, in increasing load order).

Fault recordings are sampled at 12 kHz. The normal baseline recordings are
sampled at 48 kHz (CWRU data center; Smith & Randall 2015) and are resampled
to ``sample_rate`` (``normal_sample_rate`` sets their rate if yours differ).

Splits never put the same stretch of signal in two splits:

- ``split="load"`` (default): whole recordings by motor load; loads
  ``train_loads`` train, ``test_loads`` test; validation is either whole loads
  (``val_loads``) or the last ``val_fraction`` of every training recording
  (the training windows stop where it begins).
- ``split="time"``: every recording is cut into three contiguous ranges
  (``time_fractions`` = train, val, test shares, in that order).

Windows of ``window`` samples (2048 by default, the usual choice since Zhang et
al. 2017's WDCNN) are cut within each range: evaluation windows do not overlap;
``train_stride < window`` gives overlapping training windows (augmentation,
still confined to the training range).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
import torch
from torch.utils.data import DataLoader, Dataset

from wavelet_networks.data._common import ON_ERROR, check_choice, log, make_loader, require
from wavelet_networks.data.audio import resample
from wavelet_networks.data.base import WaveformDataModule, register_dataset

__all__ = [
    "CLASSES",
    "FILE_TABLE",
    "CWRUDataModule",
    "MatFileError",
    "Recording",
    "read_recording",
]

CLASSES = ("normal", "IR007", "IR014", "IR021", "B007", "B014", "B021", "OR007", "OR014", "OR021")

# First file number of each class in the 12k drive-end set; loads 0-3 hp follow.
_FIRST = {
    "normal": 97,
    "IR007": 105,
    "IR014": 169,
    "IR021": 209,
    "B007": 118,
    "B014": 185,
    "B021": 222,
    "OR007": 130,  # outer race, centred @6:00
    "OR014": 197,
    "OR021": 234,
}
#: CWRU file number -> (class, motor load in hp).
FILE_TABLE: dict[int, tuple[str, int]] = {
    first + load: (label, load) for label, first in _FIRST.items() for load in range(4)
}
FAULT_SAMPLE_RATE = 12000
CHANNELS = ("DE", "FE", "BA")
_VAR = re.compile(r"^X(\d+)_(DE|FE|BA)_time$")


class MatFileError(RuntimeError):
    """A CWRU .mat file could not be read or lacks the variables asked for."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot read bearing recording {self.path}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))


@dataclass
class Recording:
    """One recording: ``signal`` float32 ``(channels, time)`` at the data module's rate."""

    name: str  # path relative to root
    number: int
    label: str
    load: int | None
    signal: np.ndarray


def _recording_number(path: Path, keys: list[str]) -> int:
    numbers = sorted({int(m.group(1)) for k in keys if (m := _VAR.match(k))})
    if not numbers:
        raise MatFileError(path, "no variable named like X097_DE_time")
    if len(numbers) == 1:
        return numbers[0]
    in_name = {int(d) for d in re.findall(r"\d+", path.stem)} & set(numbers)
    if len(in_name) == 1:  # e.g. the real 99.mat also carries X098_* variables
        return in_name.pop()
    raise MatFileError(path, f"variables of several recordings {numbers}; cannot tell which")


def read_recording(path: str | Path, channels: tuple[str, ...]) -> tuple[int, np.ndarray]:
    """Read ``channels`` of a CWRU .mat file.

    Returns:
        ``(number, signal)``: the recording number and float32
        ``(len(channels), time)`` (channels cut to the shortest).

    Raises:
        MatFileError: unreadable file, no recording variables, or a missing channel.
    """
    path = Path(path)
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises several types for corrupt files
        raise MatFileError(path, f"not a readable MATLAB file ({exc})") from exc
    number = _recording_number(path, list(mat))
    cols = []
    for ch in channels:
        key = f"X{number:03d}_{ch}_time"
        if key not in mat:
            raise MatFileError(path, f"no variable {key} (channel {ch})")
        cols.append(np.asarray(mat[key], dtype=np.float32).reshape(-1))
    n = min(len(c) for c in cols)
    return number, np.stack([c[:n] for c in cols])


class WindowDataset(Dataset):
    """Fixed windows of recordings.

    Item ``(x, y)``: ``x`` float32 ``(channels, window)``, ``y`` int64 scalar.

    ``windows`` is int64 ``(n, 3)``: recording index, start, stop.
    """

    def __init__(self, recordings: list[Recording], windows: np.ndarray, labels: list[int]):
        self.recordings = recordings
        self.windows = windows
        self.labels = labels

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        r, a, b = (int(v) for v in self.windows[i])
        x = np.ascontiguousarray(self.recordings[r].signal[:, a:b])
        return torch.from_numpy(x), torch.tensor(self.labels[r], dtype=torch.int64)


def _window_starts(a: int, b: int, window: int, stride: int) -> range:
    return range(a, b - window + 1, stride)


@register_dataset("cwru")
class CWRUDataModule(WaveformDataModule):
    """CWRU bearing fault classification from raw vibration windows.

    Args:
        root: folder with the CWRU .mat files (any names/subfolders: the
            recording number is read from the variable names, e.g. ``97.mat``
            or ``Time_Normal_1_098.mat``). Files not in :data:`FILE_TABLE` are
            ignored unless ``mapping_csv`` lists them.
        channels: ``"DE"``, ``"FE"`` or ``"DE,FE"`` (two input channels).
        window: samples per example (2048).
        train_stride: hop between training windows (default ``window``: no
            overlap); evaluation windows never overlap.
        split: ``"load"`` or ``"time"`` (see the module docstring).
        train_loads: motor loads (hp) of the training recordings for ``split="load"``.
        val_loads: motor loads of the validation recordings; ``None`` validates on
            the last ``val_fraction`` of every training recording instead.
        test_loads: motor loads of the test recordings.
        val_fraction: see above.
        time_fractions: train, val, test shares of each recording for
            ``split="time"``.
        sample_rate: rate fed to the model (12000, the fault recordings' rate).
        normal_sample_rate: rate of the normal baseline files (48000).
        mapping_csv: optional CSV overriding the file table, columns ``file``
            (path relative to ``root``), ``label``, optional ``load`` and
            ``sample_rate``; only the listed files are used, classes are the
            sorted distinct labels.
        batch_size: examples per batch.
        num_workers: DataLoader worker processes (0: load in the main process).
        on_error: ``"skip"`` (warn naming each unreadable file, drop it) or ``"raise"``.
        seed: seeds shuffling.
        augment_resample: "LO,HI": play every training batch at a random speed in
            [LO, HI] (see :class:`~wavelet_networks.data.WaveformDataModule`).
    """

    description = "CWRU bearing faults: 12 kHz drive-end vibration, 10 classes (normal + 9 faults)"
    expected_layout = (
        "cwru/                    (the .mat files from the CWRU Bearing Data Center)\n"
        "  97.mat 98.mat 99.mat 100.mat         normal baseline, loads 0-3 hp\n"
        "  105-108.mat 169-172.mat 209-212.mat   12k drive end, inner race 0.007/0.014/0.021\n"
        "  118-121.mat 185-188.mat 222-225.mat   ball\n"
        "  130-133.mat 197-200.mat 234-237.mat   outer race @6:00"
    )

    def __init__(
        self,
        root: str,
        channels: str = "DE",
        window: int = 2048,
        train_stride: int | None = None,
        split: str = "load",
        train_loads: list[int] | None = None,
        val_loads: list[int] | None = None,
        test_loads: list[int] | None = None,
        val_fraction: float = 0.2,
        time_fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
        sample_rate: int = FAULT_SAMPLE_RATE,
        normal_sample_rate: int = 48000,
        mapping_csv: str | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        on_error: str = "skip",
        seed: int = 0,
        augment_resample: str | None = None,
    ) -> None:
        super().__init__(augment_resample)
        check_choice("on_error", on_error, ON_ERROR)
        check_choice("split", split, ("load", "time"))
        self.channels = tuple(c.strip().upper() for c in re.split(r"[,+ ]+", channels) if c)
        for c in self.channels:
            check_choice("channel", c, CHANNELS)
        if window < 1 or (train_stride is not None and train_stride < 1):
            raise ValueError("window and train_stride must be positive")
        self.train_loads = list(train_loads) if train_loads is not None else [0, 1, 2]
        self.val_loads = list(val_loads) if val_loads is not None else None
        self.test_loads = list(test_loads) if test_loads is not None else [3]
        groups = [set(self.train_loads), set(self.val_loads or []), set(self.test_loads)]
        if any(groups[i] & groups[j] for i in range(3) for j in range(i + 1, 3)):
            raise ValueError("train_loads, val_loads and test_loads must be disjoint")
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
        if len(time_fractions) != 3 or min(time_fractions) < 0 or sum(time_fractions) > 1 + 1e-9:
            raise ValueError("time_fractions must be three non-negative shares summing to <= 1")
        self.root = Path(root).expanduser()
        self.window = window
        self.train_stride = train_stride or window
        self.split = split
        self.val_fraction = val_fraction
        self.time_fractions = tuple(float(f) for f in time_fractions)
        self._sample_rate = int(sample_rate)
        self.normal_sample_rate = int(normal_sample_rate)
        self.mapping_csv = mapping_csv
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.on_error = on_error
        self.seed = seed
        self.recordings: list[Recording] = []
        self.windows: dict[str, np.ndarray] = {}
        self.datasets: dict[str, WindowDataset] = {}
        self.broken: dict[str, str] = {}
        self._classes: list[str] | None = None
        self.save_hyperparameters()

    # -- properties --------------------------------------------------------
    @property
    def class_names(self) -> list[str]:
        if self._classes is None:
            if self.mapping_csv is None:
                self._classes = list(CLASSES)
            else:
                self._classes = sorted({row["label"] for row in self._read_mapping()})
        return list(self._classes)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def in_channels(self) -> int:
        return len(self.channels)

    @property
    def sample_rate(self) -> float:
        return float(self._sample_rate)

    @property
    def input_length(self) -> int:
        return self.window

    # -- reading ---------------------------------------------------------------
    def _read_mapping(self) -> list[dict[str, str]]:
        path = require(self.mapping_csv, "a CSV with columns file,label[,load][,sample_rate]")
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            if "file" not in fields or "label" not in fields:
                raise ValueError(f"{path}: needs the columns 'file' and 'label', has {fields}")
            return list(reader)

    def _candidates(self) -> list[tuple[Path, str | None, int | None, int | None]]:
        """``(path, label or None, load or None, rate or None)`` for every file to read."""
        if self.mapping_csv is not None:
            out = []
            for row in self._read_mapping():
                load = row.get("load") or None
                rate = row.get("sample_rate") or None
                out.append(
                    (
                        self.root / row["file"],
                        row["label"],
                        int(load) if load is not None else None,
                        int(rate) if rate is not None else None,
                    )
                )
            return out
        return [(p, None, None, None) for p in sorted(self.root.rglob("*.mat"))]

    def _load_recordings(self) -> None:
        require(self.root, "a folder of CWRU .mat files:\n" + self.expected_layout)
        broken: dict[str, str] = {}
        ignored = []
        for path, label, load, rate in self._candidates():
            name = path.relative_to(self.root).as_posix()
            if not path.is_file():
                broken[name] = "file is missing"
                continue
            try:
                number, signal = read_recording(path, self.channels)
            except MatFileError as exc:
                broken[name] = exc.reason
                continue
            if label is None:
                if number not in FILE_TABLE:
                    ignored.append(name)
                    continue
                label, load = FILE_TABLE[number]
                rate = self.normal_sample_rate if label == "normal" else FAULT_SAMPLE_RATE
            rate = rate or FAULT_SAMPLE_RATE
            if rate != self._sample_rate:
                signal = resample(signal, rate, self._sample_rate)
            self.recordings.append(Recording(name, number, label, load, signal))
        if ignored:
            log.info("cwru: ignoring %d .mat files outside the 10-class table", len(ignored))
        self.broken.update(broken)
        if broken and self.on_error == "raise":
            name = sorted(broken)[0]
            raise MatFileError(
                self.root / name, broken[name] + " (set on_error='skip' to drop broken files)"
            )
        for name in sorted(broken):
            log.warning("cwru: skipping broken file %s: %s", name, broken[name])
        if not self.recordings:
            raise FileNotFoundError(
                f"no usable CWRU recordings under {self.root}; expected:\n{self.expected_layout}"
            )

    # -- splitting ---------------------------------------------------------------
    def _ranges(self, rec: Recording) -> dict[str, tuple[int, int]]:
        """The sample range ``[start, stop)`` of ``rec`` in each split it takes part in."""
        n = rec.signal.shape[1]
        if self.split == "time":
            a = round(self.time_fractions[0] * n)
            b = a + round(self.time_fractions[1] * n)
            c = b + round(self.time_fractions[2] * n)
            return {"train": (0, a), "val": (a, b), "test": (b, min(c, n))}
        if rec.load is None:
            raise ValueError(
                f"{rec.name}: no motor load known; add a 'load' column to the mapping CSV "
                "or use split='time'"
            )
        if rec.load in self.test_loads:
            return {"test": (0, n)}
        if self.val_loads is not None and rec.load in self.val_loads:
            return {"val": (0, n)}
        if rec.load in self.train_loads:
            cut = n - round(self.val_fraction * n) if self.val_loads is None else n
            out = {"train": (0, cut)}
            if cut < n:
                out["val"] = (cut, n)
            return out
        return {}

    def setup(self, stage: str | None = None) -> None:
        """Read the recordings and cut the windows of every split."""
        if self.datasets:
            return
        self._load_recordings()
        index = {c: i for i, c in enumerate(self.class_names)}
        labels = [index[r.label] for r in self.recordings]
        wins: dict[str, list[tuple[int, int, int]]] = {"train": [], "val": [], "test": []}
        for i, rec in enumerate(self.recordings):
            for split, (a, b) in self._ranges(rec).items():
                stride = self.train_stride if split == "train" else self.window
                starts = _window_starts(a, b, self.window, stride)
                wins[split].extend((i, s, s + self.window) for s in starts)
        for split, w in wins.items():
            self.windows[split] = np.asarray(w, dtype=np.int64).reshape(-1, 3)
            self.datasets[split] = WindowDataset(self.recordings, self.windows[split], labels)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if not self.datasets:
            self.setup()
        return make_loader(
            self.datasets[split], self.batch_size, shuffle, self.num_workers, self.seed
        )


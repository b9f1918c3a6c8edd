"""CWRU bearing faults: file table, leak-free splits, window contents, broken files."""

from __future__ import annotations

import csv
from collections import defaultdict

import numpy as np
import pytest
import torch
from data_fixtures import CWRU_FIXTURE_NUMBERS, make_cwru

from wavelet_networks.data.bearing import CLASSES, FILE_TABLE, CWRUDataModule, MatFileError

WINDOW = 1000
N = 12000  # samples per fixture recording at 12 kHz


def make(fx, **kw):
    return CWRUDataModule(str(fx.root), window=WINDOW, **{"batch_size": 16, **kw})


def intervals(dm):
    """{recording name: [(start, stop, split), ...]}"""
    out = defaultdict(list)
    for split, w in dm.windows.items():
        for r, a, b in w:
            out[dm.recordings[r].name].append((int(a), int(b), split))
    return out


def assert_no_shared_signal(dm):
    """No sample of a recording lies in windows of two splits; eval windows never overlap."""
    for spans in intervals(dm).values():
        for i, (a1, b1, s1) in enumerate(spans):
            for a2, b2, s2 in spans[i + 1 :]:
                if s1 != s2 or s1 != "train":
                    assert b1 <= a2 or b2 <= a1, f"{s1} [{a1},{b1}) overlaps {s2} [{a2},{b2})"


def test_file_table_is_the_standard_12k_drive_end_set():
    groups = {
        "normal": [97, 98, 99, 100],
        "IR007": [105, 106, 107, 108], "IR014": [169, 170, 171, 172],
        "IR021": [209, 210, 211, 212],
        "B007": [118, 119, 120, 121], "B014": [185, 186, 187, 188], "B021": [222, 223, 224, 225],
        "OR007": [130, 131, 132, 133], "OR014": [197, 198, 199, 200],
        "OR021": [234, 235, 236, 237],
    }  # fmt: skip
    expected = {n: (c, load) for c, ns in groups.items() for load, n in enumerate(ns)}
    assert expected == FILE_TABLE and len(FILE_TABLE) == 40
    assert set(CLASSES) == set(groups)


def test_load_split_counts_and_loads(cwru, data_log):
    dm = make(cwru)
    dm.setup()
    assert {s: len(w) for s, w in dm.windows.items()} == {"train": 108, "val": 24, "test": 48}
    loads = {s: {dm.recordings[r].load for r in w[:, 0]} for s, w in dm.windows.items()}
    assert loads == {"train": {0, 1, 2}, "val": {0, 1, 2}, "test": {3}}
    assert all(w[:, 2].max() <= 0.8 * N for w in [dm.windows["train"]])
    assert dm.windows["val"][:, 1].min() >= 0.8 * N  # the last 20 % of the training recordings
    assert_no_shared_signal(dm)
    names = {r.name for r in dm.recordings}
    assert "130.mat" not in names and len(names) == len(CWRU_FIXTURE_NUMBERS)
    assert "130.mat" in data_log.text and dm.broken.keys() == {"130.mat"}


def test_windows_hold_the_signal_they_claim(cwru):
    dm = make(cwru, channels="DE,FE")
    dm.setup()
    assert dm.in_channels == 2
    for ds in dm.datasets.values():
        for i in range(0, len(ds), 7):
            x, y = ds[i]
            r, a, b = ds.windows[i]
            rec = dm.recordings[r]
            assert x.shape == (2, WINDOW) and x.dtype == torch.float32
            assert dm.class_names[int(y)] == FILE_TABLE[rec.number][0] == rec.label
            if rec.label != "normal":  # ramp fixture: value == sample index
                assert torch.equal(x[0], torch.arange(a, b, dtype=torch.float32))
                assert torch.equal(x[1], -x[0])


def test_normal_recordings_are_resampled_from_48k(cwru):
    dm = make(cwru)
    dm.setup()
    rec = {r.number: r for r in dm.recordings}
    assert rec[97].signal.shape == (1, N) and rec[105].signal.shape == (1, N)
    # a 48 kHz ramp (value = index) at 12 kHz rises by 4 per sample
    mid = rec[97].signal[0, 1000:11000]
    assert np.allclose(np.diff(mid), 4.0, atol=0.05)
    assert rec[99].signal[0, 5000] > 1000  # 99.mat: X099_*, not the stray X098_* zeros
    same = make(cwru, normal_sample_rate=12000)
    same.setup()
    assert {r.number: r for r in same.recordings}[97].signal.shape == (1, 4 * N)


def test_time_split(cwru):
    dm = make(cwru, split="time", time_fractions=(0.7, 0.1, 0.2))
    dm.setup()
    assert_no_shared_signal(dm)
    for spans in intervals(dm).values():
        by = defaultdict(list)
        for a, b, s in spans:
            by[s].append((a, b))
        assert max(b for _, b in by["train"]) <= 8400
        assert min(a for a, _ in by["val"]) >= 8400 and max(b for _, b in by["val"]) <= 9600
        assert min(a for a, _ in by["test"]) >= 9600
    assert len({r for r in dm.windows["test"][:, 0]}) == len(dm.recordings)


def test_val_loads_and_overlapping_training_windows(cwru):
    dm = make(cwru, val_loads=[2], train_loads=[0, 1], train_stride=500)
    dm.setup()
    assert {dm.recordings[r].load for r in dm.windows["val"][:, 0]} == {2}
    assert len(dm.windows["val"]) == 4 * 12  # whole recordings, no overlap
    assert len(dm.windows["train"]) == 8 * 23  # starts 0, 500, ..., 11000
    assert_no_shared_signal(dm)
    with pytest.raises(ValueError, match="disjoint"):
        make(cwru, train_loads=[0, 1, 2], test_loads=[2])


def test_descriptive_file_names(tmp_path):
    fx = make_cwru(tmp_path / "cw", names="descriptive")
    dm = make(fx)
    dm.setup()
    got = {r.number: (r.label, r.load) for r in dm.recordings}
    assert got == CWRU_FIXTURE_NUMBERS


def test_mapping_csv_overrides_the_table(cwru, tmp_path):
    mapping = tmp_path / "map.csv"
    with mapping.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "load"])
        for num, (label, load) in CWRU_FIXTURE_NUMBERS.items():
            if label != "normal":
                w.writerow([f"{num}.mat", "healthy" if label == "B007" else "faulty", load])
    dm = make(cwru, mapping_csv=str(mapping))
    assert dm.class_names == ["faulty", "healthy"] and dm.num_classes == 2
    dm.setup()
    assert len(dm.recordings) == 12 and len(dm.windows["test"]) == 3 * 12
    labels = {r.number: r.label for r in dm.recordings}
    assert labels[118] == "healthy" and labels[105] == "faulty"


def test_broken_and_missing_channels(cwru, data_log):
    with pytest.raises(MatFileError) as info:
        make(cwru, on_error="raise").setup()
    assert info.value.path.name == "130.mat"
    dm = make(cwru, channels="BA")  # the normal files have no base accelerometer
    dm.setup()
    assert {r.label for r in dm.recordings} == {"IR007", "B007", "OR021"}
    assert "X097_BA_time" in dm.broken["97.mat"] and "97.mat" in data_log.text


def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="CWRU"):
        CWRUDataModule(str(tmp_path / "none")).setup()
    with pytest.raises(FileNotFoundError, match="no usable CWRU recordings"):
        CWRUDataModule(str(tmp_path)).setup()


def test_batches(cwru):
    dm = make(cwru)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 1, WINDOW) and y.dtype == torch.int64
    assert dm.input_length == WINDOW and dm.sample_rate == 12000 and dm.num_classes == 10

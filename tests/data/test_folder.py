"""Your own audio: folder-per-class and CSV layouts, seeded stratified split."""

from __future__ import annotations

import csv
import os

import pytest
import torch

from wavelet_networks.data.audio import AudioDecodeError
from wavelet_networks.data.folder import FolderDataModule, stratified_split


def make(root, **kw):
    return FolderDataModule(str(root), **{"sample_rate": 8000, "clip_seconds": 0.5, **kw})


def split_map(dm):
    return {k: s for s, ds in dm.datasets.items() for k in ds.keys}


def test_folder_layout(folder, data_log):
    dm = make(folder.root, val_fraction=0.2, test_fraction=0.2)
    dm.setup()
    assert dm.class_names == ["bird", "cat", "dog"]
    splits = split_map(dm)
    assert set(splits) == set(folder.files) - {folder.corrupted}  # notes.txt ignored
    for key, split in splits.items():  # labels from the folder names
        ds = dm.datasets[split]
        assert dm.class_names[ds.labels[ds.keys.index(key)]] == folder.files[key]
    for label in ("bird", "cat", "dog"):  # stratified: every class in every split
        per = [s for k, s in splits.items() if folder.files[k] == label]
        assert {"train", "val", "test"} <= set(per)
    assert [len(dm.datasets[s]) for s in ("train", "val", "test")] == [12, 3, 3]
    assert folder.corrupted in data_log.text
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape[1:] == (1, 4000) and y.dtype == torch.int64


def test_split_is_deterministic_and_seeded(folder):
    a, b, c = (make(folder.root, seed=s) for s in (0, 0, 1))
    for dm in (a, b, c):
        dm.setup()
    assert split_map(a) == split_map(b) and split_map(a) != split_map(c)


def test_stratified_split_counts():
    labels = ["a"] * 10 + ["b"] * 20
    s = stratified_split(labels, 0.1, 0.2, seed=0)
    assert [s[:10].count(x) for x in ("train", "val", "test")] == [7, 1, 2]
    assert [s[10:].count(x) for x in ("train", "val", "test")] == [14, 2, 4]


@pytest.mark.parametrize("relative", [True, False])
@pytest.mark.parametrize("with_split", [True, False])
@pytest.mark.parametrize("as_dir", [True, False])
def test_csv_layout(folder, tmp_path, with_split, as_dir, relative):
    keys = sorted(folder.files)
    assigned = {k: ("test" if i % 5 == 0 else "valid" if i % 5 == 1 else "train")
                for i, k in enumerate(keys)}  # fmt: skip
    csv_path = (tmp_path / "labels.csv") if as_dir else (tmp_path / "mine.csv")
    with csv_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label"] + (["split"] if with_split else []))
        for k in keys:  # the CSV lives elsewhere: absolute paths, or relative to the CSV
            path = os.path.relpath(folder.root / k, tmp_path) if relative else folder.root / k
            extra = [assigned[k]] if with_split else []
            w.writerow([str(path), folder.files[k], *extra])
    # The files lie outside the CSV's folder, which a CSV may name only when allowed.
    dm = make(tmp_path if as_dir else csv_path, allow_outside_paths=True)
    dm.setup()
    got = {str((tmp_path / k).resolve().relative_to(folder.root.resolve())): s
           for k, s in split_map(dm).items()}  # fmt: skip
    assert set(got) == set(keys) - {folder.corrupted}
    if with_split:
        assert got == {k: s.replace("valid", "val") for k, s in assigned.items()
                       if k != folder.corrupted}  # fmt: skip


def test_on_error_raise_and_bad_inputs(folder, tmp_path):
    with pytest.raises(AudioDecodeError) as info:
        make(folder.root, on_error="raise").setup()
    assert info.value.path == folder.root / folder.corrupted
    with pytest.raises(FileNotFoundError, match="one folder per class"):
        make(tmp_path / "missing").setup()
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no audio files"):
        make(tmp_path / "empty").setup()
    bad = tmp_path / "bad.csv"
    bad.write_text("file,class\nx.wav,a\n")
    with pytest.raises(ValueError, match="'path' and 'label'"):
        make(bad).setup()
    with pytest.raises(ValueError, match="sum to < 1"):
        make(folder.root, val_fraction=0.5, test_fraction=0.5)


def test_disk_cache_is_per_folder(folder, tmp_path):
    a = make(folder.root, cache="disk", cache_dir=str(tmp_path))
    a.setup()
    other = tmp_path / "other"
    other.mkdir()
    b = make(other, cache="disk", cache_dir=str(tmp_path))
    assert a._cache_path() != b._cache_path()

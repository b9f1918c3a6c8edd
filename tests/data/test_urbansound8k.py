"""UrbanSound8K: protocols, splits, labels, lengths, broken files, caches."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from wavelet_networks.data.audio import AudioDecodeError
from wavelet_networks.data.urbansound8k import CLASSES, UrbanSound8KDataModule


def make(us8k, tmp_path=None, **kw):
    kw.setdefault("clip_seconds", 1.0)
    kw.setdefault("sample_rate", 8000)
    return UrbanSound8KDataModule(str(us8k.root), **kw)


def rows_by_key(us8k):
    return {f"audio/fold{r['fold']}/{r['slice_file_name']}": r for r in us8k.rows}


def split_keys(dm):
    return {s: set(ds.keys) for s, ds in dm.datasets.items()}


def assert_disjoint(keys):
    assert not (keys["train"] & keys["val"]) and not (keys["train"] & keys["test"])
    assert not (keys["val"] & keys["test"])


def folds(keys, us8k):
    rows = rows_by_key(us8k)
    return sorted({int(rows[k]["fold"]) for k in keys})


@pytest.mark.parametrize(
    ("fold", "val_fold", "n"),
    [(3, None, {"train": 16, "val": 1, "test": 2}),  # default val fold 2 holds the broken clip
     (1, None, {"train": 15, "val": 2, "test": 2}),  # default val fold 10; fold 2 trains
     (5, 9, {"train": 15, "val": 2, "test": 2})],
)  # fmt: skip
def test_cv_protocol_folds(us8k, data_log, fold, val_fold, n):
    dm = make(us8k, fold=fold, val_fold=val_fold)
    dm.setup()
    keys = split_keys(dm)
    assert {s: len(k) for s, k in keys.items()} == n
    assert_disjoint(keys)
    expected_val = val_fold or (10 if fold == 1 else fold - 1)
    assert folds(keys["test"], us8k) == [fold]
    assert folds(keys["val"], us8k) == [expected_val]
    assert folds(keys["train"], us8k) == sorted(set(range(1, 11)) - {fold, expected_val})
    assert us8k.corrupted not in set().union(*keys.values())
    assert us8k.corrupted in data_log.text


def test_paper_protocol_validation_by_recording(us8k):
    dm = make(us8k, protocol="paper")
    dm.setup()
    keys = split_keys(dm)
    assert folds(keys["test"], us8k) == [10] and len(keys["test"]) == 2
    assert 10 not in folds(keys["train"] | keys["val"], us8k)
    assert len(keys["train"]) + len(keys["val"]) == 17  # 18 clips of folds 1-9, one broken
    rows = rows_by_key(us8k)
    fs = {s: {rows[k]["fsID"] for k in keys[s]} for s in ("train", "val")}
    assert fs["val"] and not (fs["train"] & fs["val"])  # no recording in both
    again = make(us8k, protocol="paper")
    again.setup()
    assert split_keys(again) == keys  # seeded: the same split every time


def test_paper_protocol_with_val_fold(us8k):
    dm = make(us8k, protocol="paper", val_fold=9)
    dm.setup()
    keys = split_keys(dm)
    assert folds(keys["val"], us8k) == [9] and folds(keys["test"], us8k) == [10]
    assert folds(keys["train"], us8k) == list(range(1, 9))


def test_labels_match_metadata(us8k):
    dm = make(us8k, fold=3)
    dm.setup()
    rows = rows_by_key(us8k)
    for ds in dm.datasets.values():
        for key, y in zip(ds.keys, ds.labels, strict=True):
            assert y == int(rows[key]["classID"])
            assert dm.class_names[y] == rows[key]["class"]
    assert dm.num_classes == 10 and tuple(dm.class_names) == CLASSES
    assert UrbanSound8KDataModule.num_folds == 10  # `wavelet-networks cv` runs folds 1-10


@pytest.mark.parametrize(("rate", "length"), [(22050, 88200), (16000, 64000)])
def test_clip_length_rate_and_centred_padding(us8k, rate, length):
    dm = make(us8k, fold=3, sample_rate=rate, clip_seconds=4.0, batch_size=4)
    assert dm.input_length == length and dm.sample_rate == rate
    x, y = next(iter(dm.test_dataloader()))
    assert x.shape == (2, 1, length) and x.dtype == torch.float32 and y.dtype == torch.int64
    # The fixture's clips are 0.5-1 s: zero padding is split evenly around the audio.
    for clip in x[:, 0]:
        nz = torch.nonzero(clip.abs() > 1e-4).flatten()
        before, after = int(nz[0]), length - 1 - int(nz[-1])
        assert before > 0 and abs(before - after) <= 0.01 * rate


def test_on_error_raise_names_the_file(us8k):
    dm = make(us8k, fold=3, on_error="raise")
    with pytest.raises(AudioDecodeError) as info:
        dm.setup()
    assert info.value.path == us8k.root / us8k.corrupted


@pytest.mark.parametrize("cache", ["memory", "disk"])
def test_caches_give_the_same_clips(us8k, tmp_path, cache):
    plain = make(us8k, fold=3)
    cached = make(us8k, fold=3, cache=cache, cache_dir=str(tmp_path), cache_dtype="float32")
    plain.setup()
    cached.setup()
    assert split_keys(plain) == split_keys(cached)
    assert cached.broken.keys() == {us8k.corrupted}
    for i in range(len(plain.datasets["train"])):
        a, ya = plain.datasets["train"][i]
        b, yb = cached.datasets["train"][i]
        assert ya == yb and torch.allclose(a, b, atol=1e-6)
    if cache == "disk":  # a second module reuses the cache without decoding
        assert any(tmp_path.iterdir())
        reuse = make(us8k, fold=3, cache="disk", cache_dir=str(tmp_path), cache_dtype="float32")
        reuse.prepare_data()
        reuse.setup()
        assert len(reuse.datasets["train"]) == 16


def test_missing_root_and_metadata(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"UrbanSound8K\.csv"):
        UrbanSound8KDataModule(str(tmp_path / "nowhere")).setup()
    (tmp_path / "UrbanSound8K").mkdir()
    with pytest.raises(FileNotFoundError) as info:
        UrbanSound8KDataModule(str(tmp_path / "UrbanSound8K")).setup()
    assert "metadata/UrbanSound8K.csv" in str(info.value)


def test_missing_column_and_missing_file(tmp_path, us8k, data_log):
    root = tmp_path / "us"
    (root / "metadata").mkdir(parents=True)
    with (root / "metadata" / "UrbanSound8K.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["slice_file_name", "fold", "classID"])
    with pytest.raises(ValueError, match="fsID"):
        UrbanSound8KDataModule(str(root)).setup()
    # A row whose wav is absent is reported as missing and skipped; when no file is
    # left at all, setup says so instead of building empty splits.
    with (root / "metadata" / "UrbanSound8K.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(us8k.rows[0]))
        w.writeheader()
        w.writerow(us8k.rows[0])
    dm = UrbanSound8KDataModule(str(root), fold=us8k.rows[0]["fold"])
    with pytest.raises(ValueError, match=r"all 1 audio files .* failed to decode"):
        dm.setup()
    assert "file is missing" in data_log.text and us8k.rows[0]["slice_file_name"] in data_log.text


@pytest.mark.parametrize(
    "kw",
    [{"fold": 11}, {"fold": 3, "val_fold": 3}, {"protocol": "random"}, {"on_error": "ignore"},
     {"protocol": "paper", "fold": 4},
     {"cache": "ram"}, {"val_fraction": 1.0}],
)  # fmt: skip
def test_invalid_arguments(kw):
    with pytest.raises(ValueError):
        UrbanSound8KDataModule("/data", **kw)


def test_random_train_crop_is_seeded(us8k):
    dm = make(us8k, fold=3, clip_seconds=0.25, train_crop="random", batch_size=16)
    dm.setup()
    torch.manual_seed(0)
    a = dm.datasets["train"][0][0]
    torch.manual_seed(0)
    b = dm.datasets["train"][0][0]
    assert a.shape == (1, 2000) and torch.equal(a, b)
    crops = {tuple(np.round(dm.datasets["train"][0][0][0, :3].numpy(), 4)) for _ in range(8)}
    assert len(crops) > 1

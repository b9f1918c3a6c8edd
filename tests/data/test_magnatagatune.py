"""MagnaTagATune: tag choice, directory split, segments, preprocessing cache, broken mp3s."""

from __future__ import annotations

import runpy
import sys
from collections import Counter

import numpy as np
import pytest
import torch

from wavelet_networks.data.audio import AudioDecodeError, fix_length, load_audio
from wavelet_networks.data.cache import WaveCache
from wavelet_networks.data.magnatagatune import (
    SEGMENT_SAMPLES,
    MagnaTagATuneDataModule,
    preprocess_magnatagatune,
    read_annotations,
    top_tags,
)

RATE, SEG, NSEG = 8000, 2000, 3


@pytest.fixture(scope="module")
def mtat_cache(mtat, tmp_path_factory):
    cache = tmp_path_factory.mktemp("mtat_cache")
    report = preprocess_magnatagatune(mtat.root, cache, sample_rate=RATE, progress=False)
    return cache, report


def make(mtat, cache_dir=None, **kw):
    kw = {"sample_rate": RATE, "segment_samples": SEG, "eval_segments": NSEG,
          "batch_size": 4, **kw}  # fmt: skip
    return MagnaTagATuneDataModule(str(mtat.root), cache_dir=cache_dir and str(cache_dir), **kw)


def test_read_annotations_parses_the_quoted_tsv(mtat):
    tags, paths, labels = read_annotations(mtat.root)
    assert tags == mtat.tags and len(tags) == 188
    assert paths == list(mtat.labels) and labels.shape == (32, 188)
    for p, y in zip(paths, labels, strict=True):
        assert np.array_equal(y, mtat.labels[p])


def test_top_tags_by_count_ties_by_name():
    labels = np.array([[1, 1, 1], [1, 1, 1], [0, 0, 1]])
    assert top_tags(["b", "a", "c"], labels, 3) == [2, 1, 0]  # c (3), then a/b tie -> a
    assert top_tags(["b", "a", "c"], labels, 1) == [2]


def test_fifty_most_frequent_tags(mtat):
    dm = make(mtat)
    counts = Counter({t: int(sum(y[k] for y in mtat.labels.values()))
                      for k, t in enumerate(mtat.tags)})  # fmt: skip
    expected = sorted(counts, key=lambda t: (-counts[t], t))[:50]
    assert dm.class_names == expected and dm.num_classes == 50
    # the fixture's tail: tags with count 1 tie; the alphabetically first ones win
    assert "tag030" in expected and "tag187" not in expected


@pytest.mark.parametrize("cached", [False, True])
def test_directory_split_and_broken_clips(mtat, mtat_cache, data_log, cached):
    dm = make(mtat, cache_dir=mtat_cache[0] if cached else None)
    dm.setup()
    keys = {s: d.keys for s, d in dm.datasets.items()}
    assert {s: len(k) for s, k in keys.items()} == {"train": 22, "val": 2, "test": 6}
    assert {k[0] for k in keys["train"]} == set("0123456789ab")
    assert {k[0] for k in keys["val"]} == {"c"} and {k[0] for k in keys["test"]} == set("def")
    every = keys["train"] + keys["val"] + keys["test"]
    assert len(every) == len(set(every)) == 30  # 32 clips, one corrupted, one missing
    assert set(mtat.labels) - set(every) == {mtat.corrupted, mtat.missing}
    assert mtat.corrupted in data_log.text and mtat.missing in data_log.text
    assert dm.broken.keys() == {mtat.corrupted, mtat.missing}


@pytest.mark.parametrize("cached", [False, True])
def test_batches_targets_and_segments(mtat, mtat_cache, cached):
    dm = make(mtat, cache_dir=mtat_cache[0] if cached else None)
    dm.setup()
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 1, SEG) and x.dtype == torch.float32
    assert y.shape == (4, 50) and y.dtype == torch.float32 and set(y.unique().tolist()) <= {0, 1}
    x, y = next(iter(dm.test_dataloader()))
    assert x.shape == (4, NSEG, 1, SEG) and y.shape == (4, 50)
    test = dm.datasets["test"]
    idx = [mtat.tags.index(t) for t in dm.class_names]
    for i, key in enumerate(test.keys[:4]):
        assert np.array_equal(y[i].numpy(), mtat.labels[key][idx])
        full, _ = load_audio(mtat.root / key, RATE)
        expected = fix_length(full, NSEG * SEG)[0]  # consecutive segments from the centre
        assert np.abs(x[i].reshape(-1).numpy() - expected).max() < 2e-3


def test_training_segments_are_random_stretches_of_the_clip(mtat, mtat_cache):
    dm = make(mtat, cache_dir=mtat_cache[0])
    dm.setup()
    train = dm.datasets["train"]
    full = WaveCache(next(mtat_cache[0].iterdir())).get(train.keys[0])[0]
    windows = np.lib.stride_tricks.sliding_window_view(full, SEG)
    starts = set()
    for _ in range(6):
        seg = train[0][0][0].numpy()
        hit = np.flatnonzero(np.abs(windows - seg).max(axis=1) < 1e-6)
        assert len(hit) >= 1  # an exact stretch of the clip
        starts.add(int(hit[0]))
    assert len(starts) > 1  # and not always the same one


def test_preprocessing_is_resumable(mtat, tmp_path, caplog):
    first = preprocess_magnatagatune(mtat.root, tmp_path, sample_rate=RATE, progress=False)
    assert first.added == 30 and first.skipped == 0
    assert first.broken.keys() == {mtat.corrupted, mtat.missing}
    assert first.broken[mtat.missing] == "file is missing"
    second = preprocess_magnatagatune(mtat.root, tmp_path, sample_rate=RATE, progress=False)
    assert second.added == 0 and second.skipped == 30
    assert second.broken.keys() == first.broken.keys()


def test_module_entry_point(mtat, tmp_path, monkeypatch, capsys):
    argv = ["magnatagatune", str(mtat.root), str(tmp_path), "--sample-rate", str(RATE)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as info:
        runpy.run_module("wavelet_networks.data.magnatagatune", run_name="__main__")
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "30 clips decoded now" in out and mtat.corrupted in out and mtat.missing in out
    assert (tmp_path / f"magnatagatune_sr{RATE}_float16" / "waves.bin").stat().st_size > 0


@pytest.mark.parametrize("cached", [False, True])
def test_on_error_raise(mtat, mtat_cache, cached):
    dm = make(mtat, cache_dir=mtat_cache[0] if cached else None, on_error="raise")
    with pytest.raises(AudioDecodeError) as info:
        dm.setup()
    assert info.value.path == mtat.root / mtat.corrupted


def test_tags_file_and_drop_untagged(mtat, tmp_path):
    tags_file = tmp_path / "tags.txt"
    tags_file.write_text("slow\nguitar\n\n")
    dm = make(mtat, tags_file=str(tags_file), drop_untagged=True)
    assert dm.num_classes == 2  # before setup: the model is built from it
    dm.setup()
    assert dm.class_names == ["slow", "guitar"] and dm.num_classes == 2
    for ds in dm.datasets.values():  # clips with neither tag are gone
        assert ds.targets.any(axis=1).all()
    # "guitar" is on for even clips, "slow" for multiples of 4: 16 even clips, of which
    # the corrupted (6) and the missing (10) one are dropped
    assert sum(len(d) for d in dm.datasets.values()) == 14
    tags_file.write_text("no such tag\n")
    with pytest.raises(ValueError, match="no such tag"):
        make(mtat, tags_file=str(tags_file)).setup()


def test_defaults_follow_the_paper(tmp_path):
    dm = MagnaTagATuneDataModule(str(tmp_path))
    assert dm.input_length == SEGMENT_SAMPLES == 59049 and dm.sample_rate == 22050
    assert dm.task == "multilabel" and dm.num_classes == 50 and dm.batch_size == 23


def test_missing_and_malformed_annotations(tmp_path):
    with pytest.raises(FileNotFoundError, match="annotations_final"):
        MagnaTagATuneDataModule(str(tmp_path)).setup()
    (tmp_path / "annotations_final.csv").write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ValueError, match="TAB-separated"):
        MagnaTagATuneDataModule(str(tmp_path)).setup()

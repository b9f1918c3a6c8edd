"""The resumable wave cache."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import soundfile as sf
from data_fixtures import CORRUPT_BYTES, tone

from wavelet_networks.data.audio import load_audio
from wavelet_networks.data.cache import WaveCache, build_wave_cache


@pytest.fixture
def clips(tmp_path):
    items = []
    for i, (rate, ch) in enumerate([(8000, 1), (16000, 2), (44100, 1), (22050, 2)]):
        p = tmp_path / "src" / f"c{i}.wav"
        p.parent.mkdir(exist_ok=True)
        sf.write(p, tone(0.2 + 0.1 * i, rate, 300.0 + 100 * i, ch), rate, subtype="PCM_16")
        items.append((f"c{i}.wav", p))
    bad = tmp_path / "src" / "bad.wav"
    bad.write_bytes(CORRUPT_BYTES)
    items.append(("bad.wav", bad))
    return items


@pytest.mark.parametrize(("dtype", "tol"), [("float16", 1e-3), ("float32", 1e-6)])
def test_cache_matches_direct_decoding(tmp_path, clips, dtype, tol):
    report = build_wave_cache(tmp_path / "c", clips, 16000, dtype=dtype, progress=False)
    assert report.added == 4 and report.skipped == 0 and list(report.broken) == ["bad.wav"]
    cache = WaveCache(tmp_path / "c")
    assert len(cache) == 4 and "bad.wav" not in cache
    for key, path in clips[:4]:
        direct, _ = load_audio(path, 16000)
        got = cache.get(key)
        assert got.shape == direct.shape and got.dtype == np.float32
        assert np.abs(got - direct).max() < tol
        assert np.array_equal(cache.get(key, 10, 50), got[:, 10:50])


def test_cache_is_resumable_and_survives_an_interrupted_run(tmp_path, clips):
    cdir = tmp_path / "c"
    build_wave_cache(cdir, clips[:2], 16000, progress=False)
    # Simulate a run killed while writing: garbage tail in the data, half an index line.
    with (cdir / "waves.bin").open("ab") as f:
        f.write(b"\x00" * 123)
    with (cdir / "index.jsonl").open("a") as f:
        f.write('{"key": "c2.wav", "off')
    report = build_wave_cache(cdir, clips, 16000, progress=False)
    assert report.skipped == 2 and report.added == 2 and set(report.broken) == {"bad.wav"}
    again = build_wave_cache(cdir, clips, 16000, progress=False)
    assert again.added == 0 and again.skipped == 4
    cache = WaveCache(cdir)
    for key, path in clips[:4]:
        assert np.abs(cache.get(key) - load_audio(path, 16000)[0]).max() < 1e-3
    index = [json.loads(x) for x in (cdir / "index.jsonl").read_text().splitlines()]
    end = max(r["offset"] + r["length"] for r in index)
    assert (cdir / "waves.bin").stat().st_size == 2 * end


def test_cache_refuses_other_settings(tmp_path, clips):
    build_wave_cache(tmp_path / "c", clips[:1], 16000, progress=False)
    with pytest.raises(ValueError, match="another cache directory"):
        build_wave_cache(tmp_path / "c", clips[:1], 22050, progress=False)
    with pytest.raises(FileNotFoundError, match="no wave cache"):
        WaveCache(tmp_path / "elsewhere")


def test_cache_pickles_without_copying_data(tmp_path, clips):
    build_wave_cache(tmp_path / "c", clips, 16000, progress=False)
    cache = WaveCache(tmp_path / "c")
    before = cache.get("c1.wav")
    state = pickle.dumps(cache)
    assert len(state) < 2000  # the memmap is not serialised
    assert np.array_equal(pickle.loads(state).get("c1.wav"), before)


def test_cache_parallel_build(tmp_path, clips):
    report = build_wave_cache(tmp_path / "c", clips, 8000, num_workers=2, progress=False)
    assert report.added == 4 and set(report.broken) == {"bad.wav"}
    assert sorted(WaveCache(tmp_path / "c").keys()) == [k for k, _ in clips[:4]]

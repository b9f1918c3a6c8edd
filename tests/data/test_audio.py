"""The shared audio pipeline: decoding, mixing, resampling, fixed lengths, errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import soundfile as sf
from data_fixtures import CORRUPT_BYTES, tone

from wavelet_networks.data.audio import (
    AudioDecodeError,
    fix_length,
    load_audio,
    probe_audio,
    resample,
    segments,
    to_mono,
)

FORMATS = [
    ("wav", "WAV", "PCM_U8"),
    ("wav", "WAV", "PCM_16"),
    ("wav", "WAV", "PCM_24"),
    ("wav", "WAV", "PCM_32"),
    ("wav", "WAV", "FLOAT"),
    ("flac", "FLAC", "PCM_16"),
    ("ogg", "OGG", "VORBIS"),
    ("mp3", "MP3", "MPEG_LAYER_III"),
]


@pytest.mark.parametrize(("ext", "fmt", "subtype"), FORMATS)
@pytest.mark.parametrize("channels", [1, 2])
def test_load_audio_formats_rates_channels(tmp_path, ext, fmt, subtype, channels):
    rate = 44100 if ext == "mp3" else 32000
    x = tone(0.5, rate, 1000.0, channels)
    x[:, -1] *= 0.5 if channels == 2 else 1.0  # channels differ in amplitude
    path = tmp_path / f"a.{ext}"
    sf.write(path, x, rate, format=fmt, subtype=subtype)

    y, r = load_audio(path, sample_rate=None, mono=False)
    assert r == rate and y.dtype == np.float32 and y.shape[0] == channels
    assert abs(y.shape[1] - x.shape[0]) <= 1152  # mp3 may add a frame of padding
    mono, r = load_audio(path, sample_rate=16000, mono=True)
    assert r == 16000 and mono.shape[0] == 1
    assert abs(mono.shape[1] - 8000) <= 600
    # A 1 kHz tone stays a 1 kHz tone after resampling: check the spectral peak.
    spec = np.abs(np.fft.rfft(mono[0, 1000:7000]))
    assert abs(np.argmax(spec) * 16000 / 6000 - 1000) < 10
    expected_amp = 0.5 if channels == 1 else 0.375  # mean of 0.5 and 0.25
    assert abs(np.abs(mono[0, 2000:6000]).max() - expected_amp) < 0.05


def test_to_mono_averages_channels():
    x = np.stack([np.ones(4, np.float32), -np.ones(4, np.float32) * 3])
    assert to_mono(x).tolist() == [[-1.0] * 4]
    with pytest.raises(ValueError, match=r"\(channels, time\)"):
        to_mono(np.ones(4, np.float32))


def test_resample_length_and_identity():
    x = np.random.default_rng(0).standard_normal((2, 44100)).astype(np.float32)
    assert resample(x, 44100, 44100) is x
    y = resample(x, 44100, 22050)
    assert y.shape == (2, 22050) and y.dtype == np.float32


def test_fix_length_centred_zero_padding():
    x = np.arange(1, 6, dtype=np.float32)[None]  # 5 samples
    y = fix_length(x, 10)
    assert y.tolist() == [[0, 0, 1, 2, 3, 4, 5, 0, 0, 0]]  # 2 before, 3 after
    assert fix_length(x, 5) is x


def test_fix_length_centre_and_random_crop():
    x = np.arange(10, dtype=np.float32)[None]
    assert fix_length(x, 4).tolist() == [[3, 4, 5, 6]]
    starts = {
        int(fix_length(x, 4, crop="random", rng=np.random.default_rng(s))[0, 0]) for s in range(50)
    }
    assert starts == set(range(7))  # every valid offset, nothing out of range
    a = fix_length(x, 4, crop="random", rng=np.random.default_rng(3))
    b = fix_length(x, 4, crop="random", rng=np.random.default_rng(3))
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="crop"):
        fix_length(x, 4, crop="left")


def test_segments():
    x = np.arange(25, dtype=np.float32)[None]
    s = segments(x, 10)
    assert s.shape == (2, 1, 10) and s[0, 0, 0] == 2  # centred crop of 20 out of 25
    s = segments(x, 10, count=3)  # padded to 30
    assert s.shape == (3, 1, 10) and s[0, 0, :3].tolist() == [0, 0, 0]


@pytest.mark.parametrize("suffix", [".wav", ".mp3", ".flac"])
def test_corrupt_file_raises_decode_error_naming_it(tmp_path, suffix):
    bad = tmp_path / f"broken{suffix}"
    bad.write_bytes(CORRUPT_BYTES)
    for fn in (load_audio, probe_audio):
        with pytest.raises(AudioDecodeError) as info:
            fn(bad)
        assert info.value.path == bad and str(bad) in str(info.value)
        assert "corrupt" in info.value.reason


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(AudioDecodeError, match="file is missing"):
        load_audio(tmp_path / "nope.wav")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 1), np.float32), 8000)
    with pytest.raises(AudioDecodeError, match="no audio frames"):
        load_audio(empty)


def test_decode_error_pickles_for_worker_processes(tmp_path):
    err = pickle.loads(pickle.dumps(AudioDecodeError(tmp_path / "x.wav", "bad")))
    assert err.path == tmp_path / "x.wav" and err.reason == "bad"

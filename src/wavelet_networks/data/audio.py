"""Audio helpers shared by the data modules: decode, mix down, resample, fix length.

Arrays are float32 numpy arrays laid out ``(channels, time)``; the helpers never
change the channel axis except :func:`to_mono`. Decoding uses soundfile
(libsndfile: wav, flac, ogg/vorbis, mp3 and more, any bit depth), resampling uses
soxr ("HQ" quality).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioDecodeError",
    "fix_length",
    "load_audio",
    "probe_audio",
    "resample",
    "seconds_to_samples",
    "segments",
    "to_mono",
]

#: File name endings treated as audio when scanning folders.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au", ".opus")


class AudioDecodeError(RuntimeError):
    """An audio file could not be decoded.

    Attributes:
        path: the file that failed.
        reason: what went wrong (the decoder's message).
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot decode audio file {self.path}: {reason}")

    def __reduce__(self):  # keep (path, reason) when crossing process boundaries
        return (type(self), (self.path, self.reason))


def _reason(path: str | Path, exc: BaseException) -> str:
    """A clearer message than libsndfile's generic one for missing vs corrupt files."""
    p = Path(path)
    if not p.exists():
        return "file is missing"
    if not p.is_file():
        return "not a regular file"
    return f"unreadable or corrupt audio data ({exc})"


def probe_audio(path: str | Path) -> tuple[int, int, int]:
    """Read a file's header only.

    Returns:
        ``(sample_rate, channels, frames)``.

    Raises:
        AudioDecodeError: the header cannot be parsed or the file holds no frames.
    """
    try:
        info = sf.info(str(path))
    except (RuntimeError, ValueError, TypeError) as exc:  # LibsndfileError is a RuntimeError
        raise AudioDecodeError(path, _reason(path, exc)) from exc
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioDecodeError(path, "file holds no audio frames")
    return int(info.samplerate), int(info.channels), int(info.frames)


def to_mono(x: np.ndarray) -> np.ndarray:
    """Average the channels: ``(channels, time)`` -> ``(1, time)``."""
    if x.ndim != 2:
        raise ValueError(f"expected (channels, time), got shape {tuple(x.shape)}")
    if x.shape[0] == 1:
        return x
    return x.mean(axis=0, keepdims=True, dtype=np.float32)


def resample(x: np.ndarray, orig_rate: float, target_rate: float) -> np.ndarray:
    """Band-limited resampling with soxr: ``(channels, time)`` -> ``(channels, time')``.

    ``time' = ceil(time * target_rate / orig_rate)`` (soxr's output length).
    """
    if x.ndim != 2:
        raise ValueError(f"expected (channels, time), got shape {tuple(x.shape)}")
    if orig_rate == target_rate:
        return x
    y = soxr.resample(np.ascontiguousarray(x.T), orig_rate, target_rate, quality="HQ")
    return np.ascontiguousarray(y.T, dtype=np.float32)


def load_audio(
    path: str | Path, sample_rate: float | None = None, mono: bool = True
) -> tuple[np.ndarray, float]:
    """Decode an audio file, optionally mix to mono and resample.

    Args:
        path: any format libsndfile reads (wav/flac/ogg/mp3, 8-32 bit, float).
        sample_rate: target rate in Hz; ``None`` keeps the file's rate.
        mono: average the channels into one.

    Returns:
        ``(waveform, rate)``: float32 ``(channels, time)`` (``channels == 1`` if
        ``mono``), values in [-1, 1] for integer formats, and its sample rate.

    Raises:
        AudioDecodeError: naming ``path``, if the file cannot be decoded, holds no
            frames or decodes to non-finite values.
    """
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, ValueError, TypeError, EOFError) as exc:
        raise AudioDecodeError(path, _reason(path, exc)) from exc
    if data.shape[0] == 0:
        raise AudioDecodeError(path, "file holds no audio frames")
    x = np.ascontiguousarray(data.T)
    if not np.isfinite(x).all():
        raise AudioDecodeError(path, "decoded samples contain NaN or infinity")
    if mono:
        x = to_mono(x)
    if sample_rate is not None and sample_rate != rate:
        x = resample(x, rate, sample_rate)
        rate = sample_rate
    return x, float(rate)


def fix_length(
    x: np.ndarray,
    length: int,
    crop: str = "center",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Pad or crop the last axis to ``length`` samples.

    Shorter signals are zero padded symmetrically (centred; the odd extra sample
    goes to the end). Longer ones are cropped: ``crop="center"`` keeps the middle
    (deterministic, for evaluation), ``crop="random"`` a uniformly random window
    (training; uses ``rng`` or numpy's default generator).

    Args:
        x: ``(..., time)``.
    Returns:
        ``(..., length)``, float32.
    """
    n = x.shape[-1]
    if crop not in ("center", "random"):
        raise ValueError(f"crop must be 'center' or 'random', got {crop!r}")
    if n == length:
        return x
    if n < length:
        before = (length - n) // 2
        pad = [(0, 0)] * (x.ndim - 1) + [(before, length - n - before)]
        return np.pad(x, pad).astype(np.float32, copy=False)
    if crop == "center":
        start = (n - length) // 2
    else:
        start = int((rng or np.random.default_rng()).integers(0, n - length + 1))
    return x[..., start : start + length]


def segments(x: np.ndarray, length: int, count: int | None = None) -> np.ndarray:
    """Cut ``(channels, time)`` into non-overlapping segments.

    Args:
        length: samples per segment.
        count: number of segments. ``None``: as many whole segments as fit (at
            least one; a clip shorter than ``length`` is centred-padded). Given:
            the signal is first centred-cropped or centred-padded to
            ``count * length`` so that every clip yields the same count.

    Returns:
        ``(segments, channels, length)``.
    """
    if count is None:
        count = max(1, x.shape[-1] // length)
    y = fix_length(x, count * length, crop="center")
    return np.ascontiguousarray(y.reshape(y.shape[0], count, length).transpose(1, 0, 2))


def seconds_to_samples(seconds: float, rate: float) -> int:
    """``round(seconds * rate)`` as an int (e.g. 4 s at 22.05 kHz -> 88200)."""
    return math.floor(seconds * rate + 0.5)

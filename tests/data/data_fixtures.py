"""Miniature data sets in the real on-disk formats, for the tests and the benchmark.

Every builder writes real files (wav/flac/ogg/mp3 through soundfile, .mat through
scipy.io.savemat), plants exactly one corrupted file, and returns a small
record of what it wrote so tests can check the loaders against it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.io
import soundfile as sf

CORRUPT_BYTES = b"this is not an audio file\x00\x01" * 64

# (sample rate, subtype, channels) cycled over the UrbanSound8K fixture: the real
# set mixes 8-32 bit PCM, float, mono and stereo at many rates.
WAV_FORMATS = [
    (44100, "PCM_16", 2),
    (48000, "PCM_24", 1),
    (22050, "PCM_U8", 1),
    (16000, "PCM_32", 2),
    (96000, "FLOAT", 1),
    (11025, "PCM_16", 1),
    (8000, "PCM_24", 2),
]


def tone(seconds: float, rate: int, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    """A sine at ``freq`` (amplitude 0.5), ``(time, channels)`` float32."""
    t = np.arange(round(seconds * rate)) / rate
    x = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1)


@dataclass
class US8KFixture:
    root: Path
    rows: list[dict] = field(default_factory=list)  # metadata rows written
    corrupted: str = ""  # key (path relative to root) of the corrupted file


def make_urbansound8k(root: Path, clips_per_fold: int = 2, seconds: float = 1.0) -> US8KFixture:
    """10 folds x ``clips_per_fold`` wavs in mixed formats; the last clip of fold 2 is corrupted.

    Clip ``j`` of fold ``f`` has classID ``(f + j) % 10`` and fsID ``100*f + j//2``
    (two slices share a recording, like the real set). Durations vary from
    ``seconds/2`` to ``seconds``.
    """
    fx = US8KFixture(root=root)
    meta = root / "metadata"
    meta.mkdir(parents=True, exist_ok=True)
    n = 0
    for fold in range(1, 11):
        d = root / "audio" / f"fold{fold}"
        d.mkdir(parents=True, exist_ok=True)
        for j in range(clips_per_fold):
            cid = (fold + j) % 10
            fsid = 100 * fold + j // 2
            name = f"{fsid}-{cid}-0-{j}.wav"
            rate, subtype, ch = WAV_FORMATS[n % len(WAV_FORMATS)]
            dur = seconds * (0.5 + 0.5 * (n % 3) / 2)
            sf.write(d / name, tone(dur, rate, 200.0 + 50 * cid, ch), rate, subtype=subtype)
            fx.rows.append(
                {
                    "slice_file_name": name,
                    "fsID": fsid,
                    "start": 0.0,
                    "end": dur,
                    "salience": 1 + j % 2,
                    "fold": fold,
                    "classID": cid,
                    "class": CLASS_NAMES[cid],
                }
            )
            n += 1
    bad = fx.rows[2 * clips_per_fold - 1]
    fx.corrupted = f"audio/fold{bad['fold']}/{bad['slice_file_name']}"
    (root / fx.corrupted).write_bytes(CORRUPT_BYTES)
    with (meta / "UrbanSound8K.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(fx.rows[0]))
        w.writeheader()
        w.writerows(fx.rows)
    return fx


CLASS_NAMES = [
    "air_conditioner",
    "car_horn",
    "children_playing",
    "dog_bark",
    "drilling",
    "engine_idling",
    "gun_shot",
    "jackhammer",
    "siren",
    "street_music",
]


@dataclass
class MTATFixture:
    root: Path
    tags: list[str]
    labels: dict[str, np.ndarray]  # mp3_path -> multi-hot over ``tags`` (all 188)
    corrupted: str = ""
    missing: str = ""
    seconds: float = 1.0
    rate: int = 16000


MTAT_REAL_TAGS = ["guitar", "classical", "slow", "techno", "strings", "drums", "electronic"]


def make_magnatagatune(
    root: Path, clips_per_dir: int = 1, seconds: float = 1.0, rate: int = 16000
) -> MTATFixture:
    """``annotations_final.csv`` (TAB-separated, quoted, 188 tags) + mp3s under ``0/`` .. ``f/``.

    Tag ``k`` is on for clip ``i`` iff ``i % (k + 2) == 0`` (so frequency falls
    with ``k``), plus a planted tie: tags 186 and 187 are on for exactly the
    same clips. The clip in ``3/`` is corrupted; the one in ``5/`` is missing.
    """
    tags = MTAT_REAL_TAGS + [f"tag{k:03d}" for k in range(len(MTAT_REAL_TAGS), 188)]
    fx = MTATFixture(root=root, tags=tags, labels={}, seconds=seconds, rate=rate)
    rows = []
    i = 0
    for d in "0123456789abcdef":
        (root / d).mkdir(parents=True, exist_ok=True)
        for j in range(clips_per_dir):
            mp3 = f"{d}/artist_{d}-album-{j:02d}-song_{i}.mp3"
            y = np.array([(i % (k + 2) == 0) for k in range(188)], dtype=np.float32)
            y[187] = y[186]
            fx.labels[mp3] = y
            rows.append([str(i * 3 + 2)] + [str(int(v)) for v in y] + [mp3])
            if d == "5" and j == 0:
                fx.missing = mp3
            else:
                sf.write(root / mp3, tone(seconds, rate, 300.0 + 20 * i)[:, 0], rate, format="MP3")
            if d == "3" and j == 0:
                fx.corrupted = mp3
                (root / mp3).write_bytes(CORRUPT_BYTES)
            i += 1
    with (root / "annotations_final.csv").open("w", newline="") as f:
        w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_ALL)
        w.writerow(["clip_id", *tags, "mp3_path"])
        w.writerows(rows)
    return fx


@dataclass
class CWRUFixture:
    root: Path
    files: dict[int, Path]
    corrupted: Path | None = None
    length: int = 0  # samples per recording at 12 kHz


# file number -> (label, load) of the recordings the CWRU fixture writes
CWRU_FIXTURE_NUMBERS = {
    97: ("normal", 0), 98: ("normal", 1), 99: ("normal", 2), 100: ("normal", 3),
    105: ("IR007", 0), 106: ("IR007", 1), 107: ("IR007", 2), 108: ("IR007", 3),
    118: ("B007", 0), 119: ("B007", 1), 120: ("B007", 2), 121: ("B007", 3),
    234: ("OR021", 0), 235: ("OR021", 1), 236: ("OR021", 2), 237: ("OR021", 3),
}  # fmt: skip


def make_cwru(root: Path, seconds: float = 1.0, names: str = "number") -> CWRUFixture:
    """CWRU-style .mat files: ``XnnnDE_time``-style variables, (n, 1) float64 columns.

    Fault files hold ``seconds`` at 12 kHz; the normal files (97-100) hold the
    same duration at 48 kHz, like the real baseline data. Every channel is a
    ramp (``value == sample index`` at its own rate, FE negated, BA halved) so a window's
    contents reveal which stretch of which recording it came from. ``99.mat``
    also carries ``X098_*`` variables, a quirk of the real file. A corrupted
    ``130.mat`` is added. ``names="descriptive"`` writes e.g. ``IR007_1_106.mat``.
    """
    root.mkdir(parents=True, exist_ok=True)
    fx = CWRUFixture(root=root, files={}, length=int(seconds * 12000))
    for num, (label, load) in CWRU_FIXTURE_NUMBERS.items():
        rate = 48000 if label == "normal" else 12000
        n = int(seconds * rate)
        ramp = np.arange(n, dtype=np.float64)[:, None]
        tag = f"X{num:03d}"
        mat = {
            f"{tag}_DE_time": ramp,
            f"{tag}_FE_time": -ramp,
            f"{tag}RPM": np.array([[1797 - 20 * load]]),
        }
        if label != "normal":
            mat[f"{tag}_BA_time"] = ramp * 0.5
        if num == 99:
            mat["X098_DE_time"] = np.zeros((n, 1))
            mat["X098_FE_time"] = np.zeros((n, 1))
        stem = str(num) if names == "number" else f"{label}_{load}_{num}"
        path = root / f"{stem}.mat"
        scipy.io.savemat(path, mat)
        fx.files[num] = path
    fx.corrupted = root / "130.mat"
    fx.corrupted.write_bytes(CORRUPT_BYTES)
    return fx


@dataclass
class FolderFixture:
    root: Path
    files: dict[str, str]  # relative path -> label
    corrupted: str = ""


def make_folder(root: Path, per_class: int = 6, seconds: float = 0.5) -> FolderFixture:
    """``root/<class>/*`` for classes cat, dog, bird; wav/flac/ogg/mp3 mixed; one corrupted wav."""
    fx = FolderFixture(root=root, files={})
    exts = [
        ("wav", "WAV", "PCM_16"),
        ("flac", "FLAC", "PCM_24"),
        ("ogg", "OGG", "VORBIS"),
        ("mp3", "MP3", None),
    ]
    for c, label in enumerate(["bird", "cat", "dog"]):
        (root / label).mkdir(parents=True, exist_ok=True)
        for j in range(per_class):
            ext, fmt, subtype = exts[j % len(exts)]
            rate = [16000, 22050, 44100][(c + j) % 3]
            rel = f"{label}/{label}_{j}.{ext}"
            x = tone(seconds, rate, 300.0 + 100 * c)[:, 0]
            sf.write(root / rel, x, rate, format=fmt, subtype=subtype)
            fx.files[rel] = label
    fx.corrupted = "dog/dog_broken.wav"
    (root / fx.corrupted).write_bytes(CORRUPT_BYTES)
    fx.files[fx.corrupted] = "dog"
    (root / "notes.txt").write_text("not audio, ignored")
    return fx

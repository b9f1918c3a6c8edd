"""MagnaTagATune (Law et al. 2009): 25,863 clips of ~29 s, 188 tags; the usual 50-tag task.

Protocol (Dieleman & Schrauwen 2014; Lee et al. 2017, SampleCNN): the
``n_tags`` most frequent tags of ``annotations_final.csv`` (ties broken by tag
name), split by the first directory of ``mp3_path``: ``0``-``b`` train, ``c``
validation, ``d``-``f`` test. Training draws a random 59,049-sample (3^10)
segment per clip; evaluation scores every clip on ``eval_segments`` consecutive
segments taken from its centre, batches shaped ``(batch, segments, 1, 59049)``
(the model averages the segment logits).

Decoding 26k mp3s every epoch is far too slow, so decode once::

    python -m wavelet_networks.data.magnatagatune ROOT CACHE_DIR [--sample-rate 22050]

which writes a float16 memmap (about 33 GB at 22.05 kHz: 25.9k clips x 29.1 s;
``--dtype float32`` doubles it) under ``CACHE_DIR/magnatagatune_sr22050_float16``. It is resumable (rerun it
after an interruption; finished clips are skipped) and reports the broken mp3s
of the real set by name. The data module, given the same ``cache_dir``, also
runs it in ``prepare_data``.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from wavelet_networks.data._common import (
    ON_ERROR,
    Draw,
    cache_subdir,
    check_choice,
    handle_broken,
    index_and_rng,
    log,
    make_loader,
    require,
    torch_seeded_rng,
)
from wavelet_networks.data.audio import AudioDecodeError, fix_length, load_audio, probe_audio
from wavelet_networks.data.base import WaveformDataModule, register_dataset
from wavelet_networks.data.cache import CacheReport, WaveCache, build_wave_cache

__all__ = [
    "SEGMENT_SAMPLES",
    "SPLIT_DIRS",
    "MagnaTagATuneDataModule",
    "preprocess_magnatagatune",
    "read_annotations",
    "top_tags",
]

ANNOTATIONS = "annotations_final.csv"
SEGMENT_SAMPLES = 3**10  # 59,049
#: First character of ``mp3_path`` -> split.
SPLIT_DIRS = {**dict.fromkeys("0123456789ab", "train"), "c": "val", **dict.fromkeys("def", "test")}


def read_annotations(root: str | Path) -> tuple[list[str], list[str], np.ndarray]:
    """Parse ``root/annotations_final.csv`` (TAB-separated, quoted).

    Returns:
        ``(tags, mp3_paths, labels)``: the tag names in file order, the clips'
        relative mp3 paths, and ``labels`` uint8 ``(clips, tags)``.

    Raises:
        FileNotFoundError: the file is missing (names the path expected).
        ValueError: the header lacks ``clip_id`` or ``mp3_path``.
    """
    path = require(
        Path(root) / ANNOTATIONS,
        "MagnaTagATune's annotations_final.csv (TAB-separated: clip_id, 188 tags, mp3_path)",
    )
    with path.open(newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader, [])
        if not header or header[0] != "clip_id" or header[-1] != "mp3_path":
            raise ValueError(
                f"{path}: expected a TAB-separated header 'clip_id, <tags>, mp3_path', "
                f"got {header[:2]} ... {header[-1:]}"
            )
        tags = header[1:-1]
        paths: list[str] = []
        labels: list[list[int]] = []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise ValueError(f"{path}:{line}: {len(row)} fields, expected {len(header)}")
            paths.append(row[-1])
            labels.append([int(v) for v in row[1:-1]])
    return tags, paths, np.asarray(labels, dtype=np.uint8).reshape(len(paths), len(tags))


def top_tags(tags: Sequence[str], labels: np.ndarray, n: int) -> list[int]:
    """Indices of the ``n`` most frequent tags, most frequent first, ties by tag name."""
    counts = labels.sum(axis=0)
    order = sorted(range(len(tags)), key=lambda k: (-int(counts[k]), tags[k]))
    return order[:n]


def preprocess_magnatagatune(
    root: str | Path,
    cache_dir: str | Path,
    sample_rate: int = 22050,
    dtype: str = "float16",
    num_workers: int = 0,
    progress: bool = True,
) -> CacheReport:
    """Decode every clip of ``annotations_final.csv`` once into a memory-mappable cache.

    Resumable: clips already in the cache are skipped. Missing and undecodable
    mp3s are logged by name, returned in ``report.broken`` and left out;
    nothing else is.

    Args:
        root: the MagnaTagATune folder (``annotations_final.csv``, ``0/`` .. ``f/``).
        cache_dir: the cache goes to ``cache_dir/magnatagatune_sr{rate}_{dtype}``.
        sample_rate: Hz (22050 for SampleCNN).
        dtype: ``"float16"`` or ``"float32"``.
        num_workers: decoding processes.
        progress: show a tqdm bar.

    Returns:
        A :class:`~wavelet_networks.data.cache.CacheReport`.
    """
    root = Path(root).expanduser()
    _, paths, _ = read_annotations(root)
    missing = {p: "file is missing" for p in paths if not (root / p).is_file()}
    items = [(p, root / p) for p in paths if p not in missing]
    report = build_wave_cache(
        cache_subdir(cache_dir, "magnatagatune", sample_rate, dtype),
        items,
        sample_rate=sample_rate,
        dtype=dtype,
        num_workers=num_workers,
        progress=progress,
        desc="decoding MagnaTagATune",
    )
    for p in sorted(missing):
        log.warning("magnatagatune: skipping missing file %s", p)
    report.broken.update(missing)
    return report


class _Clips:
    """Clip access for the MTAT data sets: the disk cache, or decoding on demand."""

    def __init__(self, root: Path, sample_rate: int, cache: WaveCache | None) -> None:
        self.root, self.sample_rate, self.cache = root, sample_rate, cache

    def full(self, key: str) -> np.ndarray:
        if self.cache is not None and key in self.cache:
            return self.cache.get(key)
        return load_audio(self.root / key, sample_rate=self.sample_rate, mono=True)[0]

    def random_segment(self, key: str, length: int, rng: np.random.Generator) -> np.ndarray:
        if self.cache is not None and key in self.cache:  # read only the segment
            n = self.cache.length(key)
            start = int(rng.integers(0, n - length + 1)) if n > length else 0
            return fix_length(self.cache.get(key, start, start + length), length)
        return fix_length(self.full(key), length, crop="random", rng=rng)


class MTATDataset(Dataset):
    """MagnaTagATune clips with multi-hot targets.

    ``train=True``: item ``(x, y)``, ``x`` float32 ``(1, segment_samples)``, a
    random segment (drawn from the item's :class:`~wavelet_networks.data._common.Draw`
    generator when the index is one). ``train=False``: ``x`` float32 ``(eval_segments, 1,
    segment_samples)``, consecutive segments from the clip's centre (clips
    shorter than that are centred-padded). ``y`` float32 ``(n_tags,)``.
    """

    def __init__(
        self,
        keys: Sequence[str],
        targets: np.ndarray,
        clips: _Clips,
        segment_samples: int,
        train: bool,
        eval_segments: int = 10,
        on_error: str = "skip",
    ) -> None:
        self.keys = list(keys)
        self.targets = np.asarray(targets, dtype=np.float32)
        self.clips = clips
        self.segment_samples = segment_samples
        self.train = train
        self.eval_segments = eval_segments
        self.on_error = on_error

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def draws_randomness(self) -> bool:
        return self.train

    def __getitem__(self, item: int | Draw) -> tuple[torch.Tensor, torch.Tensor] | None:
        i, rng = index_and_rng(item)
        key, n = self.keys[i], self.segment_samples
        try:
            if self.train:
                x = self.clips.random_segment(key, n, rng or torch_seeded_rng())
            else:
                full = fix_length(self.clips.full(key), self.eval_segments * n)
                x = full.reshape(1, self.eval_segments, n).transpose(1, 0, 2)
        except AudioDecodeError as exc:
            if self.on_error == "raise":
                raise
            log.warning("skipping broken file %s: %s", exc.path, exc.reason)
            return None
        x = np.ascontiguousarray(x, dtype=np.float32)
        return torch.from_numpy(x), torch.from_numpy(self.targets[i])


@register_dataset("magnatagatune")
class MagnaTagATuneDataModule(WaveformDataModule):
    """MagnaTagATune auto-tagging (multi-label), directory split 0-b / c / d-f.

    Args:
        root: folder holding ``annotations_final.csv`` and ``0/`` .. ``f/``.
        cache_dir: where :func:`preprocess_magnatagatune` put (or will put,
            from ``prepare_data``) the decoded clips. ``None`` decodes mp3s on
            the fly (slow; fine for small subsets).
        sample_rate: Hz (22050 in the paper).
        n_tags: number of most frequent tags to predict (50).
        tags_file: optional text file, one tag per line, overriding the
            frequency-based choice (e.g. a published 50-tag list).
        segment_samples: samples per segment (59049 = 3^10).
        eval_segments: segments per clip at validation/test (10 fit in a
            29.1 s clip at 22.05 kHz).
        drop_untagged: drop clips with none of the chosen tags (the paper's
            code did; the usual protocol keeps them).
        batch_size: training batch (23 in the paper); ``eval_batch_size``
            (default: the same) counts clips, each of ``eval_segments`` segments.
        num_workers: DataLoader (and cache-building) processes.
        on_error: ``"skip"`` (warn naming each missing/broken file, drop it) or
            ``"raise"``.
        cache_dtype: ``"float16"`` or ``"float32"``.
        seed: seeds shuffling.
        augment_resample: "LO,HI": play every training batch at a random speed in
            [LO, HI] (see :class:`~wavelet_networks.data.WaveformDataModule`).
    """

    task = "multilabel"
    description = "MagnaTagATune: ~25.9k music clips (29 s), top-50 tags, multi-label"
    expected_layout = (
        "magnatagatune/\n"
        "  annotations_final.csv   (TAB-separated: clip_id, 188 tag columns, mp3_path)\n"
        "  0/*.mp3 ... f/*.mp3     (mp3_path is relative to this folder)"
    )

    def __init__(
        self,
        root: str,
        cache_dir: str | None = None,
        sample_rate: int = 22050,
        n_tags: int = 50,
        tags_file: str | None = None,
        segment_samples: int = SEGMENT_SAMPLES,
        eval_segments: int = 10,
        drop_untagged: bool = False,
        batch_size: int = 23,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        on_error: str = "skip",
        cache_dtype: str = "float16",
        seed: int = 0,
        augment_resample: str | None = None,
    ) -> None:
        super().__init__(augment_resample)
        check_choice("on_error", on_error, ON_ERROR)
        check_choice("cache_dtype", cache_dtype, ("float16", "float32"))
        if n_tags < 1 or segment_samples < 1 or eval_segments < 1:
            raise ValueError("n_tags, segment_samples and eval_segments must be positive")
        self.root = Path(root).expanduser()
        self.cache_dir = cache_dir
        self._sample_rate = int(sample_rate)
        self.n_tags = n_tags
        self.tags_file = tags_file
        self.segment_samples = segment_samples
        self.eval_segments = eval_segments
        self.drop_untagged = drop_untagged
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.on_error = on_error
        self.cache_dtype = cache_dtype
        self.seed = seed
        self.datasets: dict[str, MTATDataset] = {}
        self.broken: dict[str, str] = {}
        self._tags: list[str] | None = None
        self._prepared = False
        self.save_hyperparameters()

    # -- properties --------------------------------------------------------
    @property
    def num_classes(self) -> int:
        if self._tags is not None:
            return len(self._tags)
        if self.tags_file is not None:  # known without reading the annotations
            return len(self._read_tags_file())
        return self.n_tags

    @property
    def class_names(self) -> list[str]:
        if self._tags is None:
            self._select(*read_annotations(self.root))
        assert self._tags is not None
        return list(self._tags)

    @property
    def sample_rate(self) -> float:
        return float(self._sample_rate)

    @property
    def input_length(self) -> int:
        return self.segment_samples

    # -- helpers -------------------------------------------------------------
    def _read_tags_file(self) -> list[str]:
        assert self.tags_file is not None
        text = require(self.tags_file, "a text file with one tag per line").read_text()
        return [t.strip() for t in text.splitlines() if t.strip()]

    def _select(self, tags: list[str], paths: list[str], labels: np.ndarray) -> np.ndarray:
        """Choose the tags; returns the targets ``(clips, n_tags)``."""
        if self.tags_file is not None:
            wanted = self._read_tags_file()
            unknown = [t for t in wanted if t not in tags]
            if unknown:
                raise ValueError(f"{self.tags_file}: tags not in {ANNOTATIONS}: {unknown}")
            idx = [tags.index(t) for t in wanted]
        else:
            idx = top_tags(tags, labels, self.n_tags)
        self._tags = [tags[k] for k in idx]
        return labels[:, idx]

    def _cache_path(self) -> Path | None:
        if self.cache_dir is None:
            return None
        return cache_subdir(self.cache_dir, "magnatagatune", self._sample_rate, self.cache_dtype)

    # -- Lightning hooks -------------------------------------------------------
    def prepare_data(self) -> None:
        """Decode all clips into ``cache_dir`` (resumable; a no-op when done)."""
        self._prepared = True
        if self.cache_dir is None:
            return
        report = preprocess_magnatagatune(
            self.root,
            self.cache_dir,
            sample_rate=self._sample_rate,
            dtype=self.cache_dtype,
            num_workers=self.num_workers,
        )
        self.broken.update(report.broken)

    def setup(self, stage: str | None = None) -> None:
        """Read the annotations, choose the tags, find broken clips, build the splits."""
        if self.datasets:
            return
        require(self.root, "the MagnaTagATune folder:\n" + self.expected_layout)
        tags, paths, labels = read_annotations(self.root)
        targets = self._select(tags, paths, labels)
        cache = None
        broken: dict[str, str] = {}
        if self.cache_dir is not None:
            if not self._prepared and self.trainer is None:
                self.prepare_data()
            cache = WaveCache(self._cache_path())  # type: ignore[arg-type]
            for p in paths:
                if p not in cache:
                    broken[p] = self.broken.get(p, "missing or failed to decode when cached")
        else:
            for p in paths:
                try:
                    probe_audio(self.root / p)
                except AudioDecodeError as exc:
                    broken[p] = exc.reason
        self.broken.update(broken)
        handle_broken(broken, self.on_error, self.name, self.root)
        clips = _Clips(self.root, self._sample_rate, cache)
        for split in ("train", "val", "test"):
            keep = [
                i
                for i, p in enumerate(paths)
                if SPLIT_DIRS.get(p[:1]) == split
                and p not in broken
                and not (self.drop_untagged and not targets[i].any())
            ]
            self.datasets[split] = MTATDataset(
                [paths[i] for i in keep],
                targets[keep],
                clips,
                self.segment_samples,
                train=split == "train",
                eval_segments=self.eval_segments,
                on_error=self.on_error,
            )

    def _loader(self, split: str, shuffle: bool, batch_size: int) -> DataLoader:
        if not self.datasets:
            self.setup()
        return make_loader(self.datasets[split], batch_size, shuffle, self.num_workers, self.seed)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True, self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False, self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False, self.eval_batch_size)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m wavelet_networks.data.magnatagatune ROOT CACHE_DIR``: decode once."""
    parser = argparse.ArgumentParser(
        prog="python -m wavelet_networks.data.magnatagatune",
        description="Decode MagnaTagATune's mp3s once into a memory-mappable cache (resumable).",
    )
    parser.add_argument("root", help="folder with annotations_final.csv and 0/ .. f/")
    parser.add_argument("cache_dir", help="where to write the cache")
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    parser.add_argument("--workers", type=int, default=0, help="decoding processes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        report = preprocess_magnatagatune(
            args.root, args.cache_dir, args.sample_rate, args.dtype, args.workers
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = cache_subdir(args.cache_dir, "magnatagatune", args.sample_rate, args.dtype)
    print(
        f"{out}: {report.added} clips decoded now, {report.skipped} already cached, "
        f"{len(report.broken)} broken or missing"
    )
    for p, reason in sorted(report.broken.items()):
        print(f"  broken: {p}: {reason}")
    return 0

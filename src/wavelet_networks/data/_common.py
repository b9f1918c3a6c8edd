"""Pieces shared by the data modules: path checks, broken-file policy, loaders, clip data set."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, default_collate, get_worker_info

from wavelet_networks._machine import default_cache_dir
from wavelet_networks.data.audio import (
    AudioDecodeError,
    fix_length,
    load_audio,
    probe_audio,
    seconds_to_samples,
)
from wavelet_networks.data.base import WaveformDataModule
from wavelet_networks.data.cache import WaveCache, build_wave_cache

log = logging.getLogger("wavelet_networks.data")

ON_ERROR = ("skip", "raise")
CACHE_MODES = ("none", "memory", "disk")


def require(path: str | Path, what: str) -> Path:
    """Return ``Path(path)`` if it exists, else raise a FileNotFoundError naming it and ``what``."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist; expected {what}")
    return p


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def handle_broken(
    broken: dict[str, str], on_error: str, dataset: str, root: Path | None = None
) -> None:
    """Apply the ``on_error`` policy to ``{file: reason}`` (files relative to ``root``).

    ``"skip"`` logs one warning per file; ``"raise"`` raises
    :class:`AudioDecodeError` for the first one (in sorted order), with its full path.
    """
    if not broken:
        return
    if on_error == "raise":
        path = sorted(broken)[0]
        full = root / path if root is not None else Path(path)
        raise AudioDecodeError(full, broken[path] + " (set on_error='skip' to drop broken files)")
    for path in sorted(broken):
        log.warning("%s: skipping broken file %s: %s", dataset, path, broken[path])


def torch_seeded_rng() -> np.random.Generator:
    """A numpy generator drawn from torch's RNG.

    Inside DataLoader workers torch's RNG is seeded from the loader's generator
    (and so from the data module's ``seed``); in the main process it follows
    ``torch.manual_seed`` / Lightning's ``seed_everything``.
    """
    return np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))


def collate_drop_none(batch: list[Any]) -> Any:
    """``default_collate`` after dropping ``None`` items (files that failed to decode late).

    Returns ``None`` if nothing is left; Lightning skips a training step whose
    batch is ``None`` only if the model does, so such batches are logged.
    """
    kept = [b for b in batch if b is not None]
    if not kept:
        log.warning("a whole batch failed to decode and was dropped")
        return None
    if get_worker_info() is None and all(
        isinstance(t, torch.Tensor) for item in kept for t in item
    ):
        # In the main process, stack through numpy: torch allocates every batch
        # afresh and on some machines the page faults cost more than the decoding.
        # (Workers keep default_collate, which writes into shared memory.)
        return tuple(
            torch.from_numpy(np.stack([t.numpy() for t in field])) for field in zip(*kept, strict=True)
        )
    return default_collate(kept)


class Draw(NamedTuple):
    """A training index with what its random choices (e.g. a crop) are seeded by.

    :class:`ResumableRandomSampler` yields these to data sets that draw random
    numbers per item (``draws_randomness = True``). Seeding every item by the
    loader's seed, the epoch and its index makes the draws independent of
    which process loads the item and of everything drawn before, so they are
    the same in a run resumed from a checkpoint (worker processes' generators
    are not saved) and with any ``num_workers``.
    """

    index: int
    seed: int
    epoch: int

    def rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, self.index])


def index_and_rng(item: int | Draw) -> tuple[int, np.random.Generator | None]:
    """``(index, its generator)`` for a :class:`Draw`, ``(index, None)`` for a plain index."""
    if isinstance(item, Draw):
        return item.index, item.rng()
    return int(item), None


class ResumableRandomSampler(RandomSampler):
    """:class:`~torch.utils.data.RandomSampler` that can continue an epoch where it stopped.

    Draws exactly what ``RandomSampler`` draws from its ``generator`` (the order of
    every epoch is the one a plain shuffled loader gives). Before each epoch's
    permutation it records the generator's state (:attr:`epoch_state`); a sampler
    given that state back with :meth:`resume` draws the same permutation again and
    skips its first ``skip`` indices, so that a run restored from a mid-epoch or
    end-of-epoch checkpoint sees the same examples in the same order as an
    uninterrupted one.

    With ``draws=True`` it yields :class:`Draw` items (index, ``seed``, epoch)
    instead of plain indices; Lightning sets the epoch (:meth:`set_epoch`).
    """

    def __init__(self, data_source, generator: torch.Generator, seed: int = 0,
                 draws: bool = False) -> None:
        super().__init__(data_source, generator=generator)
        self.seed, self.draws, self.epoch = int(seed), draws, 0
        self.epoch_state: torch.Tensor | None = None
        self._resume: tuple[torch.Tensor, int] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def resume(self, epoch_state: torch.Tensor, skip: int) -> None:
        """Make the next epoch repeat the one that began at ``epoch_state``, minus ``skip`` indices."""
        self._resume = (epoch_state, int(skip))

    def __iter__(self):
        skip = 0
        if self._resume is not None:
            state, skip = self._resume
            self._resume = None
            self.generator.set_state(state)
        self.epoch_state = self.generator.get_state()
        it = super().__iter__()
        for _ in range(skip):
            if next(it, None) is None:
                return
        if not self.draws:
            yield from it
            return
        seed, epoch = self.seed, self.epoch
        for i in it:
            yield Draw(i, seed, epoch)


class ResumableLoader(DataLoader):
    """A shuffled training DataLoader whose position Lightning saves in checkpoints.

    ``state_dict()`` (stored by Lightning's fit loop in every checkpoint) says
    where the next permutation starts and how many of its batches the training
    loop has already received; ``load_state_dict()`` makes the next epoch
    continue from there (see :class:`ResumableRandomSampler`). Lightning asks a
    sized loader for one batch at a time (no prefetching), so the count of
    batches handed out is the count of batches trained on.
    """

    _batches_served = 0

    def __iter__(self):
        sampler = self.sampler
        start = 0
        if isinstance(sampler, ResumableRandomSampler) and sampler._resume is not None:
            start = sampler._resume[1] // max(1, self.batch_size or 1)
        self._batches_served = start
        for batch in super().__iter__():
            self._batches_served += 1
            yield batch

    def state_dict(self) -> dict[str, Any]:
        sampler = self.sampler
        if not isinstance(sampler, ResumableRandomSampler) or sampler.epoch_state is None:
            return {}
        if self._batches_served < len(self):  # mid-epoch: repeat this permutation, minus a prefix
            return {"epoch_state": sampler.epoch_state, "batches": self._batches_served}
        # The epoch is complete: the next permutation starts from the generator's state
        # once the next iterator has drawn its workers' base seed (a fresh iterator per
        # epoch; persistent workers keep the first one and draw nothing).
        generator = torch.Generator()
        generator.set_state(sampler.generator.get_state())
        if not self.persistent_workers:
            torch.empty((), dtype=torch.int64).random_(generator=generator)
        return {"epoch_state": generator.get_state(), "batches": 0}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        sampler = self.sampler
        if state and isinstance(sampler, ResumableRandomSampler):
            sampler.resume(state["epoch_state"], state["batches"] * (self.batch_size or 1))


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int,
    seed: int,
) -> DataLoader:
    """A DataLoader with the project's conventions.

    Seeded shuffling (a ``torch.Generator`` seeded with ``seed``; the workers'
    torch seeds, and so :func:`torch_seeded_rng`, derive from it),
    ``persistent_workers`` when ``num_workers > 0``, ``pin_memory`` when CUDA
    is available, and :func:`collate_drop_none`. A shuffled (training) loader
    whose last batch would hold a single example drops it: batch norm over a
    batch of one fails in training mode. Nothing else is ever dropped.

    A shuffled loader is a :class:`ResumableLoader`: a run resumed from a
    checkpoint continues the data order where it stopped. A data set with
    ``draws_randomness = True`` is indexed with :class:`Draw` items by it.
    """
    generator = torch.Generator()
    generator.manual_seed(seed)
    n = len(dataset)  # type: ignore[arg-type]
    drop_last = shuffle and n > batch_size and n % batch_size == 1
    kwargs: dict[str, Any] = {
        "batch_size": batch_size,
        "num_workers": num_workers,
        "persistent_workers": num_workers > 0,
        "pin_memory": torch.cuda.is_available(),
        "drop_last": drop_last,
        "generator": generator,
        "collate_fn": collate_drop_none,
    }
    if shuffle:
        # The same draws as DataLoader(shuffle=True, generator=generator) makes.
        sampler = ResumableRandomSampler(dataset, generator=generator, seed=seed,
                                         draws=bool(getattr(dataset, "draws_randomness", False)))
        return ResumableLoader(dataset, sampler=sampler, **kwargs)
    return DataLoader(dataset, shuffle=False, **kwargs)


class WaveSource:
    """Where a data set's mono waveforms come from: decoding, memory or a disk cache.

    ``get(key)`` returns float32 ``(1, time)`` at ``sample_rate``; ``key`` is a
    path relative to ``root``.
    """

    def __init__(
        self,
        root: Path,
        sample_rate: int,
        cache: WaveCache | None = None,
        memory: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.root = root
        self.sample_rate = sample_rate
        self.cache = cache
        self.memory = memory

    def get(self, key: str) -> np.ndarray:
        """Float32 ``(1, time)`` waveform of ``key`` at ``sample_rate``."""
        if self.memory is not None and key in self.memory:
            return self.memory[key]
        if self.cache is not None and key in self.cache:
            return self.cache.get(key)
        x, _ = load_audio(self.root / key, sample_rate=self.sample_rate, mono=True)
        return x


class ClipDataset(Dataset):
    """Fixed-length mono clips with integer labels.

    Item ``i`` is ``(x, y)``: ``x`` float32 tensor ``(1, length)`` (centred zero
    padding; centred or random crop), ``y`` an int64 scalar. A random crop is
    drawn from the item's :class:`Draw` generator when the index is one, else
    from :func:`torch_seeded_rng`. With
    ``on_error="skip"`` a file that fails to decode here (rather than at
    ``setup``) is logged and yields ``None``, which the collate function drops.
    """

    def __init__(
        self,
        keys: Sequence[str],
        labels: Sequence[int],
        source: WaveSource,
        length: int,
        crop: str = "center",
        on_error: str = "skip",
    ) -> None:
        if len(keys) != len(labels):
            raise ValueError("keys and labels differ in length")
        self.keys = list(keys)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.source = source
        self.length = length
        self.crop = crop
        self.on_error = on_error

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def draws_randomness(self) -> bool:
        return self.crop == "random"

    def __getitem__(self, item: int | Draw) -> tuple[torch.Tensor, torch.Tensor] | None:
        i, rng = index_and_rng(item)
        key = self.keys[i]
        try:
            x = self.source.get(key)
        except AudioDecodeError as exc:
            if self.on_error == "raise":
                raise
            log.warning("skipping broken file %s: %s", exc.path, exc.reason)
            return None
        if self.crop == "random" and rng is None:
            rng = torch_seeded_rng()
        x = fix_length(x, self.length, crop=self.crop, rng=rng)
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.tensor(
            self.labels[i]
        )


def decode_all(
    root: Path,
    keys: Sequence[str],
    sample_rate: int,
    progress: bool = False,
    desc: str = "decoding",
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Decode ``keys`` into memory: ``({key: (1, time) float32}, {key: reason})``."""
    out: dict[str, np.ndarray] = {}
    broken: dict[str, str] = {}
    it: Any = keys
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(keys, desc=desc, unit="clip")
    for key in it:
        try:
            out[key], _ = load_audio(root / key, sample_rate=sample_rate, mono=True)
        except AudioDecodeError as exc:
            broken[key] = exc.reason
    return out, broken



def cache_subdir(cache_dir: str | Path, name: str, sample_rate: int, dtype: str) -> Path:
    """The directory holding one data set's cache for one sample rate and dtype."""
    return Path(cache_dir).expanduser() / f"{name}_sr{int(sample_rate)}_{dtype}"


class AudioClipDataModule(WaveformDataModule):
    """Shared machinery of the single-label audio-clip data sets (not registered).

    Subclasses implement :meth:`_index`, returning ``(key, label, split)`` rows
    (``key`` a path relative to ``root``, ``split`` one of train/val/test), and
    :attr:`class_names`. This class decodes (optionally through a cache),
    applies the ``on_error`` policy and builds the three loaders.

    Batches: ``x`` float32 ``(batch, 1, clip_samples)``, ``y`` int64 ``(batch,)``.
    """

    task = "multiclass"

    def __init__(
        self,
        root: str,
        sample_rate: int,
        clip_seconds: float,
        batch_size: int,
        num_workers: int,
        on_error: str,
        cache: str,
        cache_dir: str | None,
        cache_dtype: str,
        train_crop: str,
        seed: int,
        augment_resample: str | None = None,
    ) -> None:
        super().__init__(augment_resample)
        check_choice("on_error", on_error, ON_ERROR)
        check_choice("cache", cache, CACHE_MODES)
        check_choice("cache_dtype", cache_dtype, ("float16", "float32"))
        check_choice("train_crop", train_crop, ("center", "random"))
        if sample_rate <= 0 or clip_seconds <= 0:
            raise ValueError("sample_rate and clip_seconds must be positive")
        self.root = Path(root).expanduser()
        self._sample_rate = int(sample_rate)
        self.clip_seconds = float(clip_seconds)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.on_error = on_error
        self.cache = cache
        self.cache_dir = cache_dir
        self.cache_dtype = cache_dtype
        self.train_crop = train_crop
        self.seed = seed
        self.datasets: dict[str, ClipDataset] = {}
        self.broken: dict[str, str] = {}
        self._prepared = False

    # -- interface ---------------------------------------------------------
    def _index(self) -> list[tuple[str, int, str]]:
        raise NotImplementedError

    @property
    def sample_rate(self) -> float:
        return float(self._sample_rate)

    @property
    def input_length(self) -> int:
        return seconds_to_samples(self.clip_seconds, self._sample_rate)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    # -- caching -------------------------------------------------------------
    def _cache_name(self) -> str:
        return self.name

    def _cache_path(self) -> Path:
        base = self.cache_dir if self.cache_dir is not None else default_cache_dir()
        return cache_subdir(base, self._cache_name(), self._sample_rate, self.cache_dtype)

    def prepare_data(self) -> None:
        """Build the disk cache (``cache="disk"``; resumable). Runs on one process."""
        self._prepared = True
        if self.cache != "disk":
            return
        keys = sorted({k for k, _, _ in self._index()})
        report = build_wave_cache(
            self._cache_path(),
            [(k, self.root / k) for k in keys],
            sample_rate=self._sample_rate,
            dtype=self.cache_dtype,
            num_workers=self.num_workers,
            progress=True,
            desc=f"caching {self.name}",
        )
        self.broken.update(report.broken)

    def _source(self, keys: list[str]) -> tuple[WaveSource, dict[str, str]]:
        if self.cache == "memory":
            memory, broken = decode_all(self.root, keys, self._sample_rate, progress=True)
            return WaveSource(self.root, self._sample_rate, memory=memory), broken
        if self.cache == "disk":
            if not self._prepared and self.trainer is None:
                self.prepare_data()
            cache = WaveCache(self._cache_path())
            broken = {
                k: self.broken.get(k, "failed to decode while the cache was built")
                for k in keys
                if k not in cache
            }
            return WaveSource(self.root, self._sample_rate, cache=cache), broken
        broken = {}
        for k in keys:
            try:
                probe_audio(self.root / k)
            except AudioDecodeError as exc:
                broken[k] = exc.reason
        return WaveSource(self.root, self._sample_rate), broken

    # -- Lightning hooks -------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        """Index the files, find broken ones (``on_error``) and build the splits."""
        if self.datasets:
            return
        rows = self._index()
        keys = sorted({k for k, _, _ in rows})
        source, broken = self._source(keys)
        self.broken.update(broken)
        handle_broken(broken, self.on_error, self.name, self.root)
        if keys and len(broken) == len(keys):
            first = sorted(broken)[0]
            raise ValueError(
                f"{self.name}: all {len(keys)} audio files under {self.root} failed to decode "
                f"(e.g. {first}: {broken[first]}); expected audio files libsndfile reads"
            )
        for split in ("train", "val", "test"):
            kept = [(k, y) for k, y, s in rows if s == split and k not in broken]
            self.datasets[split] = ClipDataset(
                [k for k, _ in kept],
                [y for _, y in kept],
                source,
                self.input_length,
                crop=self.train_crop if split == "train" else "center",
                on_error=self.on_error,
            )

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if not self.datasets:
            self.setup()
        return make_loader(
            self.datasets[split], self.batch_size, shuffle, self.num_workers, self.seed
        )


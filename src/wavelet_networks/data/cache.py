"""A resumable, memory-mappable cache of decoded, resampled mono waveforms.

Decoding compressed audio and resampling it every epoch dominates the cost of
training on UrbanSound8K or MagnaTagATune. :func:`build_wave_cache` decodes
every file once and appends the samples to one flat binary file; the data
modules then read clips from it through a read-only ``numpy.memmap``
(:class:`WaveCache`), which the operating system pages in on demand and shares
between DataLoader workers.

Layout of a cache directory::

    meta.json     {"format": 1, "sample_rate": 22050, "dtype": "float16"}
    waves.bin     all clips, back to back, mono, in ``dtype``
    index.jsonl   one line per finished clip: {"key", "offset", "length"}

The builder appends to ``waves.bin`` first and to ``index.jsonl`` second, so an
index line always points at complete data; on a rerun the data file is
truncated to the end of the last indexed clip and finished clips are skipped.
Files that fail to decode are reported and not indexed (a rerun tries them
again).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wavelet_networks.data.audio import AudioDecodeError, load_audio

__all__ = ["CacheReport", "WaveCache", "build_wave_cache"]

log = logging.getLogger(__name__)

_FORMAT = 1
_DTYPES = ("float16", "float32")


@dataclass
class CacheReport:
    """What a :func:`build_wave_cache` run did.

    Attributes:
        added: clips decoded and written by this run.
        skipped: clips already in the cache (finished by an earlier run).
        broken: ``{key: reason}`` for every file that could not be decoded.
    """

    added: int = 0
    skipped: int = 0
    broken: dict[str, str] = field(default_factory=dict)


def _read_meta(cache_dir: Path) -> dict | None:
    meta = cache_dir / "meta.json"
    if not meta.exists():
        return None
    return json.loads(meta.read_text())


def _read_index(cache_dir: Path) -> dict[str, tuple[int, int]]:
    index: dict[str, tuple[int, int]] = {}
    path = cache_dir / "index.jsonl"
    if not path.exists():
        return index
    with path.open() as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by an interrupted run
                break
            index[rec["key"]] = (int(rec["offset"]), int(rec["length"]))
    return index


def _decode_job(job: tuple[str, str, float]) -> tuple[str, np.ndarray | None, str | None]:
    key, path, rate = job
    try:
        x, _ = load_audio(path, sample_rate=rate, mono=True)
    except AudioDecodeError as exc:
        return key, None, exc.reason
    return key, x[0], None


def build_wave_cache(
    cache_dir: str | Path,
    items: Sequence[tuple[str, str | Path]],
    sample_rate: int,
    dtype: str = "float16",
    num_workers: int = 0,
    progress: bool = True,
    desc: str = "decoding",
) -> CacheReport:
    """Decode ``items`` once into the cache at ``cache_dir`` (resumable).

    Args:
        cache_dir: created if missing. A cache built with another sample rate or
            dtype raises ``ValueError`` (use another directory).
        items: ``(key, path)`` pairs; ``key`` (unique, e.g. the path relative to
            the data set root) is what :meth:`WaveCache.get` looks up.
        sample_rate: every clip is mixed to mono and resampled to this rate.
        dtype: ``"float16"`` (half the disk and page cache; about 3e-4 relative
            precision, inaudible for these tasks) or ``"float32"``.
        num_workers: decoding processes (0: decode in this process).
        progress: show a tqdm progress bar.

    Returns:
        A :class:`CacheReport`; broken files are also logged by name.
    """
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    want = {"format": _FORMAT, "sample_rate": int(sample_rate), "dtype": dtype}
    meta = _read_meta(cache_dir)
    if meta is None:
        (cache_dir / "meta.json").write_text(json.dumps(want))
    elif meta != want:
        raise ValueError(
            f"the cache in {cache_dir} was built with {meta}, not {want}; "
            "use another cache directory or delete this one"
        )

    index = _read_index(cache_dir)
    # Rewrite the index from its valid entries (drops a line cut short by a crash).
    with (cache_dir / "index.jsonl").open("w") as f:
        for key, (offset, length) in index.items():
            f.write(json.dumps({"key": key, "offset": offset, "length": length}) + "\n")
    end = max((o + n for o, n in index.values()), default=0)
    itemsize = np.dtype(dtype).itemsize
    waves = cache_dir / "waves.bin"
    with waves.open("ab"):
        pass
    if waves.stat().st_size != end * itemsize:  # drop a tail an interrupted run left behind
        os.truncate(waves, end * itemsize)

    report = CacheReport(skipped=sum(1 for k, _ in items if k in index))
    todo = [(k, str(p), float(sample_rate)) for k, p in items if k not in index]
    if not todo:
        return report

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=desc, unit="clip")
    with waves.open("ab") as fdata, (cache_dir / "index.jsonl").open("a") as findex:
        for key, x, err in _run_jobs(todo, num_workers):
            if x is None:
                report.broken[key] = err or "unknown error"
                log.warning("skipping %s: cannot decode: %s", key, err)
            else:
                fdata.write(np.ascontiguousarray(x, dtype=dtype).tobytes())
                fdata.flush()
                findex.write(json.dumps({"key": key, "offset": end, "length": len(x)}) + "\n")
                findex.flush()
                end += len(x)
                report.added += 1
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return report


def _run_jobs(
    jobs: list[tuple[str, str, float]], num_workers: int
) -> Iterator[tuple[str, np.ndarray | None, str | None]]:
    if num_workers <= 0:
        yield from map(_decode_job, jobs)
        return
    with ProcessPoolExecutor(max_workers=num_workers) as pool:
        yield from pool.map(_decode_job, jobs, chunksize=8)


class WaveCache:
    """Read-only view of a cache written by :func:`build_wave_cache`.

    Safe to pickle into DataLoader workers: the memmap is reopened lazily in each
    process instead of being copied.
    """

    def __init__(self, cache_dir: str | Path) -> None:
        self.cache_dir = Path(cache_dir)
        meta = _read_meta(self.cache_dir)
        if meta is None:
            raise FileNotFoundError(
                f"no wave cache in {self.cache_dir} (expected meta.json, waves.bin, "
                "index.jsonl written by build_wave_cache)"
            )
        self.sample_rate = int(meta["sample_rate"])
        self.dtype = np.dtype(meta["dtype"])
        self.index = _read_index(self.cache_dir)
        self._data: np.ndarray | None = None

    def __contains__(self, key: object) -> bool:
        return key in self.index

    def __len__(self) -> int:
        return len(self.index)

    def keys(self) -> Iterable[str]:
        return self.index.keys()

    def length(self, key: str) -> int:
        """Number of samples of clip ``key``."""
        return self.index[key][1]

    def _array(self) -> np.ndarray:
        if self._data is None:
            path = self.cache_dir / "waves.bin"
            if path.stat().st_size == 0:
                self._data = np.zeros(0, dtype=self.dtype)
            else:
                self._data = np.memmap(path, dtype=self.dtype, mode="r")
        return self._data

    def get(self, key: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Samples ``[start, stop)`` of clip ``key`` as float32 ``(1, time)``.

        Raises:
            KeyError: ``key`` is not in the cache.
        """
        offset, length = self.index[key]
        stop = length if stop is None else min(stop, length)
        start = max(0, min(start, stop))
        x = self._array()[offset + start : offset + stop]
        return x.astype(np.float32)[None, :]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_data"] = None
        return state

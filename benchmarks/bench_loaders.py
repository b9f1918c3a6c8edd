"""Throughput of the data loaders on synthetic fixtures in the real on-disk formats.

Not a test: run it by hand and read the numbers::

    PYTHONPATH=src python benchmarks/bench_loaders.py [--repeats 5] [--workers 0 2]

It writes miniature UrbanSound8K / MagnaTagATune / CWRU / folder data sets to a
temporary directory (the builders of ``tests/data/data_fixtures.py``, at the
real sample rates and clip lengths), then iterates each data module's training
loader ``--repeats`` times and prints the median examples per second, plus the
one-off cost of building the disk caches. The numbers depend on the machine;
quote them with its CPU count.

On small VMs, loading in the main process (``--workers 0``) can be dominated by
the first-touch page faults of every freshly allocated batch tensor (torch does
not recycle CPU allocations); workers avoid that cost in the training process.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "data"))

from data_fixtures import (  # noqa: E402
    make_cwru,
    make_folder,
    make_magnatagatune,
    make_urbansound8k,
)

from wavelet_networks.data.bearing import CWRUDataModule  # noqa: E402
from wavelet_networks.data.folder import FolderDataModule  # noqa: E402
from wavelet_networks.data.magnatagatune import (  # noqa: E402
    MagnaTagATuneDataModule,
    preprocess_magnatagatune,
)
from wavelet_networks.data.urbansound8k import UrbanSound8KDataModule  # noqa: E402


def throughput(make_module: Callable[[], object], split: str, repeats: int) -> tuple[float, int]:
    """Median examples/s over ``repeats`` full passes of one loader (after one warm-up pass)."""
    dm = make_module()
    dm.setup()  # type: ignore[attr-defined]
    loader = getattr(dm, f"{split}_dataloader")()
    rates = []
    for r in range(repeats + 1):
        n = 0
        t = time.perf_counter()
        for x, _ in loader:
            n += x.shape[0]
        if r > 0:  # pass 0 warms up workers and the page cache
            rates.append(n / (time.perf_counter() - t))
    del loader, dm  # shut persistent workers down before the next case forks its own
    gc.collect()
    return statistics.median(rates), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the fixtures' planted broken files warn

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        us = make_urbansound8k(tmp / "us8k", clips_per_fold=8, seconds=4.0)
        mt = make_magnatagatune(tmp / "mtat", clips_per_dir=2, seconds=29.1, rate=44100)
        cw = make_cwru(tmp / "cwru", seconds=10.0)
        fo = make_folder(tmp / "folder", per_class=20, seconds=4.0)
        print(f"fixtures written in {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        preprocess_magnatagatune(mt.root, tmp / "cache", sample_rate=22050, progress=False)
        mtat_cache_s = time.perf_counter() - t
        t = time.perf_counter()
        UrbanSound8KDataModule(
            str(us.root), cache="disk", cache_dir=str(tmp / "cache")
        ).prepare_data()
        us_cache_s = time.perf_counter() - t
        print(
            f"one-off disk cache build: MagnaTagATune {len(mt.labels)} x 29.1 s mp3 "
            f"in {mtat_cache_s:.2f} s; UrbanSound8K {len(us.rows)} x 4 s wav in {us_cache_s:.2f} s"
        )

        cases: list[tuple[str, str, Callable[[int], object]]] = [
            ("urbansound8k 22.05 kHz, no cache", "train",
             lambda w: UrbanSound8KDataModule(str(us.root), num_workers=w)),
            ("urbansound8k 22.05 kHz, memory cache", "train",
             lambda w: UrbanSound8KDataModule(str(us.root), num_workers=w, cache="memory")),
            ("urbansound8k 22.05 kHz, disk cache", "train",
             lambda w: UrbanSound8KDataModule(str(us.root), num_workers=w, cache="disk",
                                              cache_dir=str(tmp / "cache"))),
            ("magnatagatune train segment, mp3 decoding", "train",
             lambda w: MagnaTagATuneDataModule(str(mt.root), num_workers=w)),
            ("magnatagatune train segment, disk cache", "train",
             lambda w: MagnaTagATuneDataModule(str(mt.root), cache_dir=str(tmp / "cache"),
                                               num_workers=w)),
            ("magnatagatune eval clip (10 segments), disk cache", "test",
             lambda w: MagnaTagATuneDataModule(str(mt.root), cache_dir=str(tmp / "cache"),
                                               num_workers=w)),
            ("cwru 2048-sample windows, DE", "train",
             lambda w: CWRUDataModule(str(cw.root), num_workers=w)),
            ("folder 16 kHz, mixed wav/flac/ogg/mp3, no cache", "train",
             lambda w: FolderDataModule(str(fo.root), num_workers=w)),
        ]  # fmt: skip
        print(f"\nmedian of {args.repeats} passes, {os.cpu_count()} CPUs, batch sizes as defaults")
        print(f"{'loader':55s} {'workers':>7s} {'examples/s':>11s} {'n':>5s}")
        for label, split, factory in cases:
            for w in args.workers:
                rate, n = throughput(lambda f=factory, w=w: f(w), split, args.repeats)
                print(f"{label:55s} {w:7d} {rate:11.1f} {n:5d}")


if __name__ == "__main__":
    main()

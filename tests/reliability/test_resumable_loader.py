"""The shuffled training loader continues where a checkpoint left it, random crops included."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from faultlib import write_wav

from wavelet_networks.data.folder import FolderDataModule


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory) -> Path:
    """Two classes of 0.5 s clips; the data module crops 0.1 s at random for training."""
    root = tmp_path_factory.mktemp("clips")
    for c, label in enumerate(("low", "high")):
        for i in range(10):
            write_wav(root / label / f"{i}.wav", freq=150.0 * (1 + 5 * c) + 7 * i, seconds=0.5)
    return root


def _loader(root: Path, num_workers: int = 0):
    dm = FolderDataModule(str(root), sample_rate=8000, clip_seconds=0.1, batch_size=3,
                          val_fraction=0.1, test_fraction=0.1, train_crop="random",
                          num_workers=num_workers, seed=5)
    dm.setup()
    return dm.train_dataloader()


def _epoch(loader, epoch: int, batches: int | None = None) -> list[tuple[torch.Tensor, ...]]:
    loader.sampler.set_epoch(epoch)  # as Lightning does before every epoch
    out = []
    for batch in loader:
        out.append(tuple(t.clone() for t in batch))
        if batches is not None and len(out) == batches:
            break
    return out


def _same(a, b) -> bool:
    return len(a) == len(b) and all(
        all(torch.equal(x, y) for x, y in zip(p, q, strict=True)) for p, q in zip(a, b, strict=True))


@pytest.mark.parametrize("workers", [0, 2])
def test_mid_epoch_state_resumes_the_same_batches_and_crops(long_clips: Path, workers) -> None:
    full = _loader(long_clips, workers)
    epochs = [_epoch(full, e) for e in range(3)]
    assert not _same(epochs[0], epochs[1])  # a new order (and new crops) every epoch
    stopped = _loader(long_clips, workers)
    _epoch(stopped, 0)
    _epoch(stopped, 1, batches=2)
    state = stopped.state_dict()
    assert state["batches"] == 2
    resumed = _loader(long_clips, workers)  # a new process: fresh loader, fresh generator
    resumed.load_state_dict(state)
    assert _same(_epoch(resumed, 1), epochs[1][2:])
    assert _same(_epoch(resumed, 2), epochs[2])


@pytest.mark.parametrize("workers", [0, 2])
def test_end_of_epoch_state_starts_the_next_epoch(long_clips: Path, workers) -> None:
    full = _loader(long_clips, workers)
    epochs = [_epoch(full, e) for e in range(3)]
    stopped = _loader(long_clips, workers)
    _epoch(stopped, 0)
    _epoch(stopped, 1)
    state = stopped.state_dict()
    assert state["batches"] == 0  # nothing of epoch 1 is left to skip
    resumed = _loader(long_clips, workers)
    resumed.load_state_dict(state)
    assert _same(_epoch(resumed, 2), epochs[2])


def test_crops_do_not_depend_on_the_process_that_loads_them(long_clips: Path) -> None:
    # The first epoch's order is the same with and without worker processes (later
    # ones are not: persistent workers draw their seed from the generator only once);
    # its crops are the same too, drawn per item rather than from a process's generator.
    assert _same(_epoch(_loader(long_clips, 0), 0), _epoch(_loader(long_clips, 2), 0))

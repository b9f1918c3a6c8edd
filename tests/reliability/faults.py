"""Fault injection for the reliability tests, loaded by class path (``faults.KillAt``)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import lightning as L


class KillAt(L.Callback):
    """Sends ``signal_name`` to its own process at a chosen point of training.

    ``where="batch"``: after training batch ``batch`` of epoch ``epoch`` (mid-epoch);
    ``where="epoch_end"``: at the end of epoch ``epoch``, after validation but
    before Lightning writes the epoch's ``last.ckpt`` (it writes it at the end of
    the training epoch), steps the LR scheduler and logs the epoch's training metrics;
    ``where="fit_start"``: at ``on_fit_start``, after the data's setup and before
    the validation sanity check and the first training batch.
    """

    def __init__(self, epoch: int = 1, batch: int = 0, where: str = "batch",
                 signal_name: str = "SIGKILL") -> None:
        self.epoch, self.batch, self.where = epoch, batch, where
        self.signum = getattr(signal, signal_name)

    def on_fit_start(self, trainer, pl_module) -> None:
        if self.where == "fit_start":
            os.kill(os.getpid(), self.signum)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.where == "batch" and (trainer.current_epoch, batch_idx) == (self.epoch, self.batch):
            os.kill(os.getpid(), self.signum)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.where == "epoch_end" and trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), self.signum)


class TraceSteps(L.Callback):
    """Appends one line per training step to ``path``: epoch, batch, data, labels, lr, RNG.

    Two runs with the same lines saw the same examples in the same order, with the
    same learning rate and the same random generator state at every step.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        import hashlib

        import torch

        x, y = batch
        data = hashlib.sha1(x.numpy().tobytes() + y.numpy().tobytes()).hexdigest()[:16]
        rng = hashlib.sha1(torch.get_rng_state().numpy().tobytes()).hexdigest()[:16]
        lr = trainer.optimizers[0].param_groups[0]["lr"]
        with open(self.path, "a") as f:
            f.write(f"{trainer.current_epoch} {batch_idx} {data} {lr!r} {rng}\n")


class HoldAtStart(L.Callback):
    """Creates ``started`` when training starts, then waits (at most 120 s) until ``go`` exists."""

    def __init__(self, started: str, go: str) -> None:
        self.started, self.go = Path(started), Path(go)

    def on_train_start(self, trainer, pl_module) -> None:
        self.started.touch()
        deadline = time.monotonic() + 120
        while not self.go.exists() and time.monotonic() < deadline:
            time.sleep(0.1)

"""Fault injection for the reliability tests, importable by class path (``faults.KillAt``)."""

from __future__ import annotations

import os
import signal

import lightning as L


class KillAt(L.Callback):
    """Sends ``signal_name`` to its own process at a chosen point of training.

    ``where="batch"``: after training batch ``batch`` of epoch ``epoch`` (mid-epoch);
    ``where="epoch_end"``: at the end of epoch ``epoch``, after its end-of-epoch
    checkpoint was written but before the LR scheduler steps and the epoch's
    training metrics are logged.
    """

    def __init__(self, epoch: int = 1, batch: int = 0, where: str = "batch",
                 signal_name: str = "SIGKILL") -> None:
        self.epoch, self.batch, self.where = epoch, batch, where
        self.signum = getattr(signal, signal_name)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.where == "batch" and (trainer.current_epoch, batch_idx) == (self.epoch, self.batch):
            os.kill(os.getpid(), self.signum)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.where == "epoch_end" and trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), self.signum)


class TraceSteps(L.Callback):
    """Appends one line per training step to ``path``: epoch, batch, data checksum, lr, RNG checksum."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        import torch

        x, y = batch
        lr = trainer.optimizers[0].param_groups[0]["lr"]
        rng = int(torch.get_rng_state().double().sum().item())
        with open(self.path, "a") as f:
            f.write(f"{trainer.current_epoch} {batch_idx} {float(x.double().sum()):.6f} "
                    f"{y.tolist()} {lr:.8g} {rng}\n")

"""Stopping and resuming a fit so that it ends exactly where an uninterrupted one would.

What a resumed run needs, beyond the weights, optimiser, LR scheduler and loop
counters that Lightning saves in every checkpoint:

- the data order: the shuffled training loader is a
  :class:`~wavelet_networks.data._common.ResumableLoader`, whose position
  Lightning stores in the checkpoint (``loops.fit_loop.state_dict.combined_loader``);
- the random state: :class:`ResumeState` stores the CPU (and CUDA) torch,
  numpy and Python generator states and puts them back when training restarts;
- the logs: :class:`ResumeState` flushes the loggers whenever a checkpoint is
  written, and :func:`trim_metric_logs` drops the rows a killed process logged
  after its last checkpoint (the resumed run logs them again);
- whole files: :class:`AtomicCheckpointIO` writes every checkpoint to a
  temporary file beside it and renames it into place, and reads checkpoints
  with :func:`wavelet_networks._checkpoint.load_checkpoint_file`;
  :class:`RunCSVLogger` rewrites ``metrics.csv`` the same way.

A new run directory appears whole: :class:`PublishRunDir` writes the step-0
``last.ckpt`` into the staging folder a fresh run starts in and renames that
folder to the run directory before the first training batch.

Signals: :class:`SignalGuard` turns SIGINT and SIGTERM into a request that
:class:`StopOnSignal` honours at the next batch boundary by saving
``last.ckpt`` and raising :class:`RunInterrupted` (exit code 130 or 143).
:class:`FiniteLossGuard` stops a run whose training loss is NaN or infinite.
"""

from __future__ import annotations

import csv
import io
import os
import random
import signal
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from wavelet_networks._checkpoint import load_checkpoint_file

__all__ = [
    "AtomicCheckpointIO",
    "FiniteLossGuard",
    "NonFiniteLossError",
    "PublishRunDir",
    "ResumeState",
    "RunCSVLogger",
    "RunInterrupted",
    "RunTensorBoardLogger",
    "SignalGuard",
    "StopOnSignal",
    "trim_metric_logs",
]


# ----------------------------------------------------------------------------- random state
def random_states() -> dict[str, Any]:
    """The torch (CPU, CUDA), numpy and Python generator states, as plain data and tensors.

    numpy's is the legacy global generator, the one ``seed_everything`` seeds and
    third-party code draws from.
    """
    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002
    version, internal, gauss_next = random.getstate()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "python": [version, list(internal), gauss_next],
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict[str, Any]) -> None:
    """Restore what :func:`random_states` returned."""
    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state(  # noqa: NPY002
        (kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class ResumeState(L.Callback):
    """Puts the random state and the training data's position back when training restarts.

    The random state is saved in every checkpoint (this callback's state) and
    the data position by Lightning (the shuffled loader's ``state_dict``, under
    ``loops.fit_loop.state_dict.combined_loader``). Both are applied at
    ``on_train_start`` of the resumed run, just before the first training batch
    it fetches. Lightning itself hands the loader its state only when it
    restarts inside an epoch; a checkpoint written at the end of an epoch (its
    default for ``last.ckpt``) would otherwise restart the data order at the
    first epoch's. Between the save and the next batch an uninterrupted run
    draws nothing from the global generators (the end of the epoch, the LR
    scheduler's step and the next loader iterator, which has its own
    generator), so the resumed run's dropout masks and random crops are the
    uninterrupted run's.

    It also flushes the loggers before each checkpoint is written and at the
    start of each epoch, so that the rows a checkpoint covers are on disk.
    """

    def __init__(self) -> None:
        self._random: dict[str, Any] | None = None
        self._loaders: list[dict[str, Any]] | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"random": random_states()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._random = state_dict.get("random")

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        fit_loop = (checkpoint.get("loops") or {}).get("fit_loop") or {}
        self._loaders = (fit_loop.get("state_dict") or {}).get("combined_loader")

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        for logger in trainer.loggers:
            logger.save()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        # The last epoch's training metrics are logged after its checkpoint is
        # saved; flushing here puts them on disk before the next one is.
        for logger in trainer.loggers:
            logger.save()

    def on_train_start(self, trainer, pl_module) -> None:
        if self._random is not None:
            set_random_states(self._random)
            self._random = None
        if self._loaders:
            stateful = [dl for dl in _flat_loaders(trainer.train_dataloader)
                        if callable(getattr(dl, "load_state_dict", None))]
            if len(stateful) == len(self._loaders):
                for loader, state in zip(stateful, self._loaders, strict=True):
                    loader.load_state_dict(state)
            self._loaders = None


def _flat_loaders(loaders: Any) -> list[Any]:
    if isinstance(loaders, dict):
        return [dl for v in loaders.values() for dl in _flat_loaders(v)]
    if isinstance(loaders, (list, tuple)):
        return [dl for v in loaders for dl in _flat_loaders(v)]
    return [] if loaders is None else [loaders]


# ----------------------------------------------------------------------------- whole files
class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written whole or not at all, and read without running code.

    ``save_checkpoint`` writes ``.<name>.<pid>.tmp`` in the checkpoint's folder,
    fsyncs it and renames it over ``<name>``: a process killed while saving
    leaves the previous checkpoint intact (Lightning's own writer stages the
    file in the system temporary folder and moves it, which is a copy when that
    folder is on another file system). ``load_checkpoint`` uses
    :func:`~wavelet_networks._checkpoint.load_checkpoint_file`
    (``weights_only=True``).
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        from wavelet_networks.training.run import _atomic_write

        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        _atomic_write(Path(path), lambda f: f.write(buffer.getbuffer()))

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
        return load_checkpoint_file(path)


class _AtomicExperimentWriter(ExperimentWriter):
    """Lightning's CSV writer, but every save rewrites ``metrics.csv`` whole (temp file + rename)."""

    def save(self) -> None:
        from wavelet_networks.training.run import write_text_atomic

        if not self.metrics:
            return
        self._record_new_keys()
        rows: list[dict[str, Any]] = []
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as f:
                rows = list(csv.DictReader(f))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=self.metrics_keys)
        writer.writeheader()
        writer.writerows(rows + self.metrics)
        write_text_atomic(self.metrics_file_path, out.getvalue())
        self.metrics = []


class RunCSVLogger(CSVLogger):
    """:class:`~lightning.pytorch.loggers.CSVLogger` whose ``metrics.csv`` is never half-written.

    :meth:`relocate` follows its folder when the run directory is renamed.
    """

    @property
    @rank_zero_experiment
    def experiment(self):
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AtomicExperimentWriter(log_dir=self.log_dir)
        return self._experiment

    def release_files(self) -> None:
        """Write what is buffered; the CSV writer holds no file open between saves."""
        self.save()

    def relocate(self, save_dir: str | Path) -> None:
        """Log to ``save_dir``, the new name of the folder holding ``logs/``."""
        self._save_dir = self._root_dir = os.fspath(save_dir)
        if self._experiment is not None:
            self._experiment.log_dir = self.log_dir
            self._experiment.metrics_file_path = os.path.join(
                self.log_dir, ExperimentWriter.NAME_METRICS_FILE)


class RunTensorBoardLogger(TensorBoardLogger):
    """:class:`~lightning.pytorch.loggers.TensorBoardLogger` that can follow a renamed run directory.

    TensorBoard's writer appends to its event file by path, so :meth:`release_files`
    closes it before the rename; the next value logged opens a new event file
    in the new place (TensorBoard reads every event file of a folder).
    """

    def release_files(self) -> None:
        if self._experiment is not None:
            self._experiment.flush()
            self._experiment.close()
            self._experiment = None

    def relocate(self, save_dir: str | Path) -> None:
        """Log to ``save_dir``, the new name of the folder holding ``tb/``."""
        self.release_files()
        self._root_dir = os.fspath(save_dir)


def _read_rows(path: Path) -> list[dict[str, str]]:
    """The complete rows of a CSV log; a last row cut short by a killed writer is dropped."""
    try:
        with path.open(newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header:
                return []
            rows = []
            for fields in reader:
                if len(fields) != len(header):
                    continue
                rows.append(dict(zip(header, fields, strict=True)))
            return rows
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def trim_metric_logs(log_dir: str | Path, before_step: int) -> Path | None:
    """Keep, of the CSV logs in ``log_dir``, the rows logged before step ``before_step``.

    Reads ``metrics-part*.csv`` (earlier resumed parts) and ``metrics.csv``, keeps
    each distinct complete row whose ``step`` is below ``before_step`` (the
    checkpoint's logging step: later rows come from a process stopped before
    its next checkpoint, and the resumed run logs them again),
    writes them to ``metrics-part000.csv`` and removes the other files, so that
    the resumed run's ``metrics.csv`` starts where the kept history ends.
    Returns the history file, or ``None`` when there is nothing to keep.
    """
    from wavelet_networks.training.run import write_text_atomic

    log_dir = Path(log_dir)
    files = [*sorted(log_dir.glob("metrics-part*.csv")), log_dir / "metrics.csv"]
    files = [f for f in files if f.is_file()]
    if not files:
        return None
    keys: list[str] = []
    kept: list[dict[str, str]] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    for f in files:
        for row in _read_rows(f):
            try:
                step = int(float(row.get("step") or "nan"))
            except ValueError:
                continue
            if step >= before_step:
                continue
            ident = tuple(sorted((k, v) for k, v in row.items() if v != ""))
            if ident in seen:
                continue
            seen.add(ident)
            kept.append(row)
            keys += [k for k in row if k not in keys]
    history = log_dir / "metrics-part000.csv"
    if kept:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=sorted(keys), restval="")
        writer.writeheader()
        writer.writerows(kept)
        write_text_atomic(history, out.getvalue())
    for f in files:
        if f != history or not kept:
            f.unlink(missing_ok=True)
    return history if kept else None


# ----------------------------------------------------------------------------- run directory
class PublishRunDir(L.Callback):
    """Makes a fresh run's directory appear with a checkpoint to resume from already in it.

    The run starts in ``staging`` (holding the marker and ``config.yaml``). At
    ``on_train_start``, after setup and the validation sanity check and just
    before the first training batch, it writes ``checkpoints/last.ckpt`` there:
    step 0, with the weights, optimiser, LR schedule, loop counters and (through
    :class:`ResumeState`, which must come right after this callback) the random
    state that the first batch will see. It then renames ``staging`` to
    ``run_dir`` (:func:`~wavelet_networks.training.run.publish_run_dir`) and
    points the run's loggers, checkpoint callbacks and ``on_published`` at
    ``run_dir``. A process killed before the rename leaves only the staging
    folder (the next fit clears it); one killed after it leaves a run
    directory whose ``last.ckpt`` resumes to the uninterrupted run's result.
    """

    def __init__(self, staging: str | Path, run_dir: str | Path, on_published=None) -> None:
        self.staging, self.run_dir = Path(staging), Path(run_dir)
        self.on_published = on_published
        self.published = False
        self._staging_real = self.staging

    def on_train_start(self, trainer, pl_module) -> None:
        from wavelet_networks.training.run import publish_run_dir

        if self.published:
            return
        self._staging_real = Path(os.path.realpath(self.staging))
        # The checkpoint callbacks' folders first: the checkpoint records them, and a
        # run resumed from it finds its checkpoints in the run directory.
        for callback in trainer.callbacks:
            if isinstance(callback, ModelCheckpoint) and callback.dirpath:
                callback.dirpath = os.fspath(self._moved(Path(callback.dirpath)))
            if isinstance(callback, StopOnSignal):
                callback.last_ckpt = self._moved(callback.last_ckpt)
        trainer.save_checkpoint(self.staging / "checkpoints" / "last.ckpt", weights_only=False)
        relocatable = [lg for lg in trainer.loggers if callable(getattr(lg, "relocate", None))]
        if trainer.is_global_zero:
            for logger in relocatable:
                logger.release_files()
            publish_run_dir(self.staging, self.run_dir)
        trainer.strategy.barrier("publish_run_dir")
        self.published = True
        for logger in relocatable:
            logger.relocate(self._moved(Path(logger.save_dir)))
        if self.on_published is not None:
            self.on_published(self.run_dir)

    def _moved(self, path: Path) -> Path:
        """``path`` inside ``staging`` as the same path inside ``run_dir`` (others unchanged)."""
        places = ((self.staging, self.run_dir),
                  (self._staging_real, Path(os.path.realpath(self.run_dir))))
        for staging, run_dir in places:
            try:
                return run_dir / Path(path).relative_to(staging)
            except ValueError:
                continue
        return Path(path)


# ----------------------------------------------------------------------------- signals
class RunInterrupted(Exception):
    """A fit stopped by SIGINT or SIGTERM; ``exit_code`` is 128 + the signal number.

    ``complete``: the message already says where the run stopped and what it keeps.
    """

    def __init__(self, signum: int, message: str, complete: bool = False) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + int(signum)
        self.complete = complete

    @classmethod
    def at(cls, signum: int, where: str | None, detail: str) -> RunInterrupted:
        """The complete message: which signal, where the run stopped (if known), what it keeps."""
        place = f" at {where}" if where else ""
        return cls(signum, f"interrupted by {_signal_name(signum)}{place}: {detail}",
                   complete=True)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class SignalGuard:
    """SIGINT and SIGTERM handlers for a fit (a context manager; main thread only).

    While the training loop runs batches (:attr:`deferring`), a first signal only
    records a request (:attr:`requested`), which :class:`StopOnSignal` honours
    at the next batch boundary; elsewhere (data setup, validation before
    training, testing), or at a second signal, the handler raises
    :class:`RunInterrupted` at once. The previous handlers are restored on exit.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested: int | None = None
        self.deferring = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame) -> None:
        if self.deferring and self.requested is None:
            self.requested = signum
            return
        self.requested = self.requested or signum
        raise RunInterrupted(signum, f"interrupted by {_signal_name(signum)}")

    def __enter__(self) -> SignalGuard:
        import threading

        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}


class StopOnSignal(L.Callback):
    """Honours a :class:`SignalGuard` request: save ``last.ckpt``, then raise :class:`RunInterrupted`.

    At the end of a training batch the checkpoint is written there and then
    (mid-epoch; the resumed run skips the batches already done); at the start
    of an epoch the end-of-epoch ``last.ckpt`` already holds everything.
    """

    def __init__(self, guard: SignalGuard, last_ckpt: str | Path) -> None:
        self.guard = guard
        self.last_ckpt = Path(last_ckpt)

    def on_train_start(self, trainer, pl_module) -> None:
        self.guard.deferring = True
        self._stop_if_requested(trainer, save=False)

    def on_train_end(self, trainer, pl_module) -> None:
        self.guard.deferring = False

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self.guard.deferring = False

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._stop_if_requested(trainer, save=False)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._stop_if_requested(trainer, save=True)

    def _stop_if_requested(self, trainer, save: bool) -> None:
        signum = self.guard.requested
        if signum is None:
            return
        self.guard.deferring = False
        where = f"epoch {trainer.current_epoch}, step {trainer.global_step}"
        if save:
            trainer.save_checkpoint(self.last_ckpt, weights_only=False)
        if self.last_ckpt.is_file():
            detail = f"saved {self.last_ckpt}; run the same command again to resume"
        else:
            detail = "before the first checkpoint; the same command starts the run again"
        raise RunInterrupted.at(signum, where, detail)


# ----------------------------------------------------------------------------- loss
class NonFiniteLossError(ValueError):
    """The training loss became NaN or infinite."""


class FiniteLossGuard(L.Callback):
    """Stops training with :class:`NonFiniteLossError` when a batch's loss is NaN or infinite.

    The check runs after the step, so the last checkpoint (written before the
    loss diverged) is the state to look at or resume from with other settings.
    """

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor) and not bool(torch.isfinite(loss).all()):
            raise NonFiniteLossError(
                f"the training loss is {loss.detach().float().item()} at epoch "
                f"{trainer.current_epoch}, step {trainer.global_step} (batch {batch_idx} of the "
                "epoch); training stopped: lower --model.lr, or check the data for NaN or "
                "infinite values"
            )

"""Run directories, result files and learning curves of training runs.

A run directory (``<run_root>/<dataset>/<model>/fold-<fold>/seed-<seed>/``) holds::

    config.yaml           the full resolved configuration (written at start)
    checkpoints/last.ckpt the latest checkpoint, for resuming (step 0, then each
                          epoch's end, or where a signal stopped the run)
    checkpoints/best.ckpt checkpoint with the lowest validation loss
    logs/metrics.csv      per-epoch metrics (CSV logger)
    tb/                   TensorBoard event files
    learning_curve.png    loss and accuracy per epoch (written at the end)
    results.json          metrics, parameter count, times, config (written last,
                          atomically, only when training *and* testing succeeded)
    .wavelet-networks-run marker: ``wavelet-networks fit`` made the folder

``results.json`` is the only file that marks a finished run. The marker is what
allows the CLI to delete or replace the folder: a folder without it is never
removed. While a fit runs, ``<parent>/.<name>.lock`` (see :class:`RunDirLock`)
keeps a second fit out of the same run directory.

A run directory appears whole: a new run starts in ``<parent>/.<name>.incoming``
(marker, ``config.yaml``) and is renamed to its place (:func:`publish_run_dir`)
once that folder also holds ``checkpoints/last.ckpt`` at step 0, so every run
directory holds a result or a checkpoint to resume from. A run that replaces
another (``--overwrite true``, ``--resume never``) trains in the same staging
folder and takes the run directory's place only once it has finished
(:func:`replace_run_dir`), so a failed or killed replacement leaves the old run.

Every file the CLI writes here is written whole or not at all (a temporary file
in the same folder, then an atomic rename), with the permissions the umask gives
(0644 for the usual 022).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
from pathlib import Path
from typing import Any

__all__ = [
    "MARKER_FILE",
    "RESULTS_FILE",
    "RunDirBusy",
    "RunDirLock",
    "copy_file_atomic",
    "incoming_dir_for",
    "is_run_dir",
    "plot_learning_curve",
    "publish_run_dir",
    "read_epoch_metrics",
    "remove_run_folder",
    "replace_run_dir",
    "run_dir_for",
    "write_json_atomic",
    "write_marker",
    "write_text_atomic",
]

RESULTS_FILE = "results.json"
#: The file that identifies a folder as a run directory made by ``wavelet-networks fit``.
MARKER_FILE = ".wavelet-networks-run"


def run_dir_for(
    run_root: str | Path, dataset: str, model: str, fold: Any = None, seed: Any = None
) -> Path:
    """The run directory ``<run_root>/<dataset>/<model>/fold-<fold>/seed-<seed>``."""
    fold_s = "none" if fold is None else str(fold)
    seed_s = "none" if seed is None or seed is False else str(int(seed))
    return Path(run_root) / dataset / model / f"fold-{fold_s}" / f"seed-{seed_s}"


def _atomic_write(path: Path, write) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``.

    The temporary file is created with mode 0666 minus the umask (``tempfile``'s
    0600 would make ``path`` unreadable to the group), flushed and fsynced
    before the rename, and removed if ``write`` fails.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all."""
    _atomic_write(Path(path), lambda f: f.write(text.encode("utf-8")))


def copy_file_atomic(source: str | Path, path: str | Path) -> None:
    """Copy the file ``source`` to ``path`` whole or not at all."""
    with open(source, "rb") as src:
        _atomic_write(Path(path), lambda f: shutil.copyfileobj(src, f))


def _finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by ``None`` (JSON ``null``)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as strict JSON to ``path`` via a temporary file and an atomic rename.

    Non-finite floats become ``null`` (``NaN`` and ``Infinity`` are not JSON and
    strict parsers reject them); other objects JSON cannot hold are written as
    their ``str()``.
    """
    text = json.dumps(_finite(obj), indent=2, sort_keys=False, default=str, allow_nan=False)
    write_text_atomic(path, text + "\n")


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` is a folder that ``wavelet-networks fit`` made (it holds the marker)."""
    return (Path(path) / MARKER_FILE).is_file()


def write_marker(run_dir: str | Path) -> None:
    """Mark ``run_dir`` (created if needed) as a run directory of ``wavelet-networks fit``."""
    from wavelet_networks import __version__

    write_json_atomic(Path(run_dir) / MARKER_FILE,
                      {"made_by": "wavelet-networks fit", "version": __version__})


def incoming_dir_for(run_dir: str | Path) -> Path:
    """Where a run that will replace ``run_dir`` trains: ``<parent>/.<name>.incoming``."""
    run_dir = Path(run_dir)
    return run_dir.parent / f".{run_dir.name}.incoming"


def _fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename in it) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def publish_run_dir(staging: str | Path, run_dir: str | Path) -> None:
    """Rename the staged run ``staging`` to ``run_dir`` in one step.

    ``run_dir`` must not exist or be an empty folder (which the rename replaces).
    Raises ``FileExistsError`` naming both folders otherwise.
    """
    staging, run_dir = Path(staging), Path(run_dir)
    try:
        os.rename(staging, run_dir)
    except OSError as exc:
        raise FileExistsError(
            f"cannot move the new run {str(staging)!r} to {str(run_dir)!r} ({exc.strerror}); "
            "the run directory must not exist or be an empty folder"
        ) from None
    _fsync_dir(run_dir.parent)


def remove_run_folder(folder: str | Path) -> None:
    """Delete a folder the CLI made, its marker last.

    A process killed while deleting leaves the marker in place, so the next fit
    still recognises the remains as its own and may clear them.
    """
    folder = Path(folder)
    if not folder.exists():
        return
    for child in folder.iterdir():
        if child.name == MARKER_FILE:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    (folder / MARKER_FILE).unlink(missing_ok=True)
    folder.rmdir()


def replace_run_dir(run_dir: str | Path, incoming: str | Path) -> None:
    """Put the finished run ``incoming`` in the place of ``run_dir``, then delete the old one.

    The old run is first renamed aside, so that at every moment one of the two
    runs is complete on disk; it is deleted only after the new one is in place,
    and only if it carries the marker.
    """
    run_dir, incoming = Path(run_dir), Path(incoming)
    old = run_dir.parent / f".{run_dir.name}.replaced-{os.getpid()}"
    if run_dir.exists():
        os.rename(run_dir, old)
    os.rename(incoming, run_dir)
    _fsync_dir(run_dir.parent)
    if old.exists() and is_run_dir(old):
        remove_run_folder(old)


class RunDirBusy(ValueError):
    """Another process holds the lock of a run directory."""


class RunDirLock:
    """An exclusive lock on a run directory, held while a fit trains into it.

    The lock is ``fcntl.flock`` on ``<parent>/.<name>.lock`` (beside the run
    directory, so that it also covers the directory's replacement); the file
    records the holder's process id and host for the message a second fit
    prints. The operating system releases the lock when the holder exits, even
    when it is killed, so a stale lock file never blocks a new run. The file is
    removed on release; folders made only to hold it are removed if empty.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir.parent / f".{self.run_dir.name}.lock"
        self._fd: int | None = None
        self._created: list[Path] = []

    def acquire(self) -> RunDirLock:
        import fcntl

        parent = self.path.parent
        self._created = [p for p in (parent, *parent.parents) if not p.exists()]
        parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "unknown"
                os.close(fd)
                self._remove_created()
                pid, _, host = holder.partition(" ")
                raise RunDirBusy(
                    f"run directory {str(self.run_dir)!r} is in use by another fit (process "
                    f"{pid} on {host or 'an unknown host'}, lock {str(self.path)!r}); wait for it "
                    "to finish, or choose another --run_root or --run_dir"
                ) from None
            # The holder before us may have removed the file between our open and our
            # lock: then we hold a lock on a deleted file and must lock the new one.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None
        self._remove_created()

    def _remove_created(self) -> None:
        for folder in self._created:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                break
        self._created = []

    def __enter__(self) -> RunDirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_epoch_metrics(path: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Per-epoch values ``{metric: [(epoch, value), ...]}`` from Lightning CSV logs.

    ``path`` is a ``metrics.csv`` file or a folder; in a folder the parts left by
    resumed runs (``metrics-part000.csv``, ...) are read first, then ``metrics.csv``.
    Reads with :func:`wavelet_networks.plots.read_metrics`; no log yet gives ``{}``.
    """
    from wavelet_networks.plots import read_metrics

    try:
        return read_metrics(path)
    except FileNotFoundError:
        return {}


def plot_learning_curve(metrics: str | Path, png: str | Path, title: str = "") -> Path:
    """Plot loss (left) and accuracy or AUC (right) per epoch to ``png``.

    ``metrics``: a CSV log or a folder of them (see :func:`read_epoch_metrics`).
    The figure is :func:`wavelet_networks.plots.plot_training_curve`'s; a run
    that logged no per-epoch series (e.g. stopped in its first epoch) still
    gets a PNG, with a note instead of curves, so that the end of a fit never
    fails on its plot.
    """
    from wavelet_networks import plots

    fig = plots.plot_training_curve(read_epoch_metrics(metrics), title=title or None,
                                    allow_empty=True)  # fmt: skip
    png = Path(png)
    tmp = png.with_name(f".{png.stem}.{os.getpid()}.tmp.png")
    try:
        plots.save_figure(fig, tmp, dpi=100)
        os.replace(tmp, png)
    finally:
        tmp.unlink(missing_ok=True)
    return png

"""``wavelet-networks fit`` and ``wavelet-networks cv``: training runs on LightningCLI."""

from __future__ import annotations

import argparse
import math
import os
import shutil
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml

from wavelet_networks.cli import CLIError
from wavelet_networks.cli.configs import dataset_name_of, preprocess_args, run_name_of

__all__ = ["DEFAULT_PAIR", "WaveletNetworksCLI", "cv_command", "fit_command", "run_fit"]

#: The models ``wavelet-networks fit`` trains when given no model or config.
DEFAULT_PAIR = ("w-small-cnn", "small-cnn")

#: Model options set from the data module (LightningCLI argument links).
_LINKED = ("num_classes", "in_channels", "task")

FIT_DESCRIPTION = """\
Train one model (LightningCLI: YAML configs plus command-line overrides), test
its best checkpoint (lowest validation loss) on the test split, and write the
run directory <run_root>/<dataset>/<model>/fold-<fold>/seed-<seed>/ with
config.yaml, checkpoints/{last,best}.ckpt, logs/metrics.csv, tb/,
learning_curve.png and, last and only on success, results.json.

Without --config and --model.* options, fit trains the default pair
(w-small-cnn and small-cnn) on the embedded ACSF1 data with the packaged
default config and prints their test accuracies side by side. Other options
(e.g. --trainer.max_epochs) then apply to both. Without --config, the packaged
default config is the base that options override; with --data NAME only its
trainer and optimiser settings (120 epochs, Adam, cosine schedule) are kept.

An interrupted run (Ctrl+C, SIGTERM, kill -9) resumes from checkpoints/last.ckpt
when the same command is run again (--resume auto) and continues exactly where
it stopped: data order, random state and learning-rate schedule. SIGINT and
SIGTERM save last.ckpt at the next batch and exit with 130 and 143. A finished
run (results.json present) is only trained again with --overwrite true; that
and --resume never train beside the old run and replace it once the new one has
finished. fit only ever clears or replaces folders it made (marked by a
.wavelet-networks-run file), and one fit at a time trains in a run directory.
A new run starts in .<name>.incoming beside its run directory and is moved into
place with a step-0 last.ckpt before its first batch: a run directory always
holds results.json or a checkpoint to resume from.
"""

FIT_EPILOG = """\
examples:
  wavelet-networks fit
  wavelet-networks fit --config urbansound8k_w-m11 --data.root /data/UrbanSound8K
  wavelet-networks fit --config my.yaml --model.lr 3e-4 --trainer.max_epochs 50
  wavelet-networks fit --model.model_name small-cnn --data acsf1 --data.batch_size 8
  wavelet-networks fit --trainer.strategy ddp --trainer.devices 2 --trainer.accelerator cpu
  wavelet-networks fit --data.help acsf1         # options of a data set
  wavelet-networks fit --print_config            # the full resolved config

packaged configs (--config NAME): see src/wavelet_networks/configs/, e.g.
default, urbansound8k_m11, urbansound8k_w-m11, magnatagatune_w-samplecnn.
"""


def _rank_zero() -> bool:
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def _parser_kwargs(description: str, epilog: str) -> dict[str, Any]:
    from jsonargparse import DefaultHelpFormatter

    class Formatter(DefaultHelpFormatter, argparse.RawDescriptionHelpFormatter):
        pass

    return {
        "exit_on_error": False,
        "description": description,
        "epilog": epilog,
        "formatter_class": Formatter,
        "prog": "wavelet-networks fit",
    }


def _make_run_info_callback():
    from lightning.pytorch.callbacks import Callback

    class RunInfo(Callback):
        """Stores what ``test`` and ``predict`` need to rebuild the data in every checkpoint."""

        def __init__(self, info: dict[str, Any]) -> None:
            self.info = info

        def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
            dm = trainer.datamodule
            info = dict(self.info)
            if dm is not None:
                for key in ("class_names", "sample_rate", "input_length", "in_channels"):
                    try:
                        info[key] = getattr(dm, key)
                    except (NotImplementedError, AttributeError, RuntimeError):
                        info[key] = None
                info["task"] = getattr(dm, "task", None)
                info["normalization"] = getattr(dm, "normalization", None)
            checkpoint["wavelet_networks"] = info

    return RunInfo


#: Trainer options that may differ between an interrupted run and the command that resumes it:
#: they change how long it trains or what it shows, not what one step computes.
_RESUMABLE_TRAINER = frozenset({
    "max_epochs", "max_steps", "max_time", "min_epochs", "min_steps", "callbacks", "logger",
    "enable_progress_bar", "enable_model_summary", "default_root_dir", "log_every_n_steps",
    "num_sanity_val_steps", "enable_checkpointing",
})


def _flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(cfg, dict) and cfg:
        out: dict[str, Any] = {}
        for key, value in cfg.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: cfg}


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Options (``--key``) whose values differ between two ``config.yaml`` dicts that matter for
    resuming: the seed and every model, data and trainer option, except the model options
    filled in from the data and the trainer options in :data:`_RESUMABLE_TRAINER`.
    """

    def relevant(cfg: dict[str, Any]) -> dict[str, Any]:
        flat = {}
        for section in ("seed_everything", "model", "data", "trainer"):
            for key, value in _flatten(cfg.get(section), section).items():
                parts = key.split(".")
                if section == "model" and len(parts) > 1 and parts[1] in _LINKED:
                    continue
                if section == "trainer" and len(parts) > 1 and parts[1] in _RESUMABLE_TRAINER:
                    continue
                flat[key] = value
        return flat

    old, new = relevant(saved), relevant(current)
    return [f"--{key} {old.get(key)!r} (saved) vs {new.get(key)!r} (now)"
            for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]


def _cli_class():
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
    from lightning.pytorch.cli import LightningCLI

    from wavelet_networks.training import WaveformClassifier
    from wavelet_networks.training.resume import (
        AtomicCheckpointIO,
        FiniteLossGuard,
        PublishRunDir,
        ResumeState,
        RunCSVLogger,
        RunTensorBoardLogger,
        SignalGuard,
        StopOnSignal,
    )
    from wavelet_networks.training.run import (
        MARKER_FILE,
        RESULTS_FILE,
        RunDirLock,
        incoming_dir_for,
        is_run_dir,
        run_dir_for,
    )

    class WaveletNetworksCLI(LightningCLI):
        """LightningCLI that names the run directory and adds loggers and checkpoints.

        ``resources`` (an ``ExitStack`` of the caller) receives the lock on the run
        directory, taken as soon as the run directory is known, and released when
        the caller's stack closes.
        """

        def __init__(self, args: list[str], resources: ExitStack | None = None,
                     signal_guard: SignalGuard | None = None) -> None:
            from wavelet_networks.data import WaveformDataModule

            self.resources = resources
            self.signal_guard = signal_guard or SignalGuard()
            self._data_given = _names_data(args)
            super().__init__(
                WaveformClassifier,
                WaveformDataModule,
                subclass_mode_data=True,
                save_config_callback=None,
                seed_everything_default=0,
                parser_kwargs=_parser_kwargs(FIT_DESCRIPTION, FIT_EPILOG),
                args=args,
                run=False,
                auto_configure_optimizers=False,
            )

        def add_arguments_to_parser(self, parser) -> None:
            parser.add_argument("--run_root", type=str, default="runs",
                                help="Root folder of run directories.")
            parser.add_argument("--run_dir", type=str | None, default=None,
                                help="Explicit run directory (overrides the naming scheme).")
            parser.add_argument(
                "--resume", type=str, default="auto",
                help="auto: resume an unfinished run from checkpoints/last.ckpt if present; "
                "never: start afresh (the new run replaces the unfinished one once it has "
                "finished); or a checkpoint path.",
            )
            parser.add_argument("--overwrite", type=bool, default=False,
                                help="Retrain a finished run (the new run replaces it once it has "
                                "finished).")
            from wavelet_networks.data import DATASETS

            if not self._data_given:
                # Only then: jsonargparse would carry ACSF1's defaults (val_fraction, ...)
                # over to another data module named on the command line or in a config.
                default = DATASETS["acsf1"]
                parser.set_defaults(
                    {"data": {"class_path": f"{default.__module__}.{default.__qualname__}"}}
                )
            for key in _LINKED:
                parser.link_arguments(f"data.{key}", f"model.{key}", apply_on="instantiate")

        def before_instantiate_classes(self) -> None:
            from wavelet_networks.models import card

            cfg = self.config
            card(cfg.model.model_name)  # unknown model: one-line ValueError
            data_args = cfg.data.get("init_args") or {}
            self.dataset = run_name_of(cfg.data.class_path, data_args)
            fold = data_args.get("fold") if hasattr(data_args, "get") else None
            self.seed = cfg.seed_everything
            self.run_dir = Path(cfg.run_dir) if cfg.run_dir else run_dir_for(
                cfg.run_root, self.dataset, cfg.model.model_name, fold, self.seed
            )
            self.fast_dev_run = bool(cfg.trainer.get("fast_dev_run"))
            if self.fast_dev_run:
                # A smoke test: it neither resumes nor touches the run directory.
                import tempfile

                self.run_dir = Path(tempfile.mkdtemp(prefix="wavelet-networks-fast-dev-run-"))
            self.config_dump = yaml.safe_load(
                self.parser.dump(cfg, skip_link_targets=False, skip_none=False, format="yaml")
            )
            if self.resources is not None and _rank_zero():
                self.resources.enter_context(RunDirLock(self.run_dir))
            self._decide_resume()
            self.last_ckpt = self.work_dir / "checkpoints" / "last.ckpt"
            self.checkpoint_callback = ModelCheckpoint(
                dirpath=self.work_dir / "checkpoints", filename="best", monitor="val/loss",
                mode="min", save_last=True, auto_insert_metric_name=False,
                enable_version_counter=False,
            )
            run_info = _make_run_info_callback()(
                {
                    "config": self.config_dump,
                    "dataset": self.dataset,
                    "data": {"class_path": cfg.data.class_path, "init_args": self.config_dump[
                        "data"].get("init_args", {})},
                    "run_dir": str(self.run_dir),
                    "seed": self.seed,
                }
            )
            # PublishRunDir right before ResumeState: the random state its step-0
            # checkpoint holds is the one ResumeState restores at the same point.
            publish = [PublishRunDir(self.work_dir, self.run_dir, self._published)
                       ] if self.stages_run else []
            self.trainer_defaults["callbacks"] = [
                self.checkpoint_callback, run_info, LearningRateMonitor(logging_interval="epoch"),
                *publish, ResumeState(), FiniteLossGuard(),
                StopOnSignal(self.signal_guard, self.last_ckpt), _make_split_check_callback()(),
            ]

        def _published(self, run_dir: Path) -> None:
            """The staged run is in place: it trains in the run directory from here on."""
            self.work_dir = run_dir
            self.last_ckpt = run_dir / "checkpoints" / "last.ckpt"
            self.published = True

        def _decide_resume(self) -> None:
            """Where this run trains (:attr:`work_dir`) and from which checkpoint, if any.

            Decides only; :func:`_prepare_run_dir` acts on rank 0. A folder without
            the marker is never cleared, replaced or trained into unless it is empty.
            A run that starts afresh is staged (:attr:`stages_run`): it starts in
            ``.<name>.incoming`` and :class:`PublishRunDir` moves it into place
            with its step-0 checkpoint.
            """
            cfg = self.config
            rd = self.run_dir
            self.work_dir: Path = rd
            self.clear_work_dir = False
            self.clear_run_dir = False
            self.replaces_run = False
            self.stages_run = False
            self.published = False
            self.copies_resume_ckpt = False
            self.resume_ckpt: str | None = None
            if rd.exists() and not rd.is_dir():
                raise CLIError(f"run directory {str(rd)!r} is a file; choose another --run_root "
                               "or --run_dir")
            ours = is_run_dir(rd)
            if rd.exists() and not ours and any(rd.iterdir()):
                raise CLIError(
                    f"{str(rd)!r} is not a run directory of `wavelet-networks fit` (no "
                    f"{MARKER_FILE} file) and is not empty; nothing in it was changed: choose "
                    "another --run_root or --run_dir, or a new or empty folder"
                )
            finished = ours and (rd / RESULTS_FILE).is_file()
            if finished and not cfg.overwrite:
                raise CLIError(
                    f"run directory {str(rd)!r} already holds a finished run ({RESULTS_FILE}); "
                    "pass --overwrite true to train it again, or choose another --run_root, "
                    "--run_dir or --seed_everything"
                )
            if ours and cfg.overwrite and cfg.resume not in ("auto", "never"):
                raise CLIError(
                    f"--overwrite true starts the run in {str(rd)!r} afresh and cannot also "
                    f"resume from --resume {cfg.resume!r}; nothing was changed: drop one of the "
                    "two, or resume into another --run_dir"
                )
            if ours and (cfg.overwrite or cfg.resume == "never"):
                # Train beside the old run; it is replaced only once the new one has finished.
                incoming = incoming_dir_for(rd)
                self.work_dir, self.replaces_run = incoming, True
                if incoming.exists() and not is_run_dir(incoming) and any(incoming.iterdir()):
                    raise CLIError(f"{str(incoming)!r} is in the way and is not a run directory "
                                   "of `wavelet-networks fit`; move it away")
                last = incoming / "checkpoints" / "last.ckpt"
                if cfg.resume == "auto" and last.is_file() and not self._config_diff(incoming):
                    self.resume_ckpt = str(last)  # an interrupted replacement
                else:
                    self.clear_work_dir = incoming.exists()
                return
            if cfg.resume in ("auto", "never"):
                last = rd / "checkpoints" / "last.ckpt"
                if cfg.resume == "auto" and ours and last.is_file():
                    diff = self._config_diff(rd)
                    if diff:
                        raise CLIError(
                            f"run directory {str(rd)!r} holds an unfinished run with other "
                            f"options: {'; '.join(diff[:3])}{' ...' if len(diff) > 3 else ''}; "
                            "pass the same options to resume it, --resume never to replace it, "
                            "or choose another --run_root or --run_dir"
                        )
                    self.resume_ckpt = str(last)
                elif self.fast_dev_run:
                    pass  # a temporary folder, removed at the end
                else:  # nothing to resume: the run starts afresh, staged
                    incoming = incoming_dir_for(rd)
                    if incoming.exists() and not is_run_dir(incoming) and any(incoming.iterdir()):
                        raise CLIError(f"{str(incoming)!r} is in the way and is not a run "
                                       "directory of `wavelet-networks fit`; move it away")
                    self.work_dir, self.stages_run = incoming, True
                    self.clear_work_dir = incoming.exists()
                    self.clear_run_dir = ours  # a run directory without a checkpoint
                return
            path = Path(cfg.resume).expanduser()
            if not path.is_file():
                raise CLIError(
                    f"--resume {cfg.resume!r}: no such checkpoint file; pass an existing "
                    ".ckpt path, 'auto' or 'never'"
                )
            from wavelet_networks._checkpoint import load_checkpoint_file

            ckpt = load_checkpoint_file(path)
            if not isinstance(ckpt, dict) or "wavelet_networks" not in ckpt:
                raise CLIError(f"--resume {str(path)!r} is not a checkpoint written by "
                               "`wavelet-networks fit`")
            self.resume_ckpt = str(path)
            if not self.fast_dev_run and not (rd / "checkpoints" / "last.ckpt").is_file():
                # The run directory appears holding a copy of the checkpoint as last.ckpt.
                incoming = incoming_dir_for(rd)
                if incoming.exists() and not is_run_dir(incoming) and any(incoming.iterdir()):
                    raise CLIError(f"{str(incoming)!r} is in the way and is not a run "
                                   "directory of `wavelet-networks fit`; move it away")
                self.copies_resume_ckpt = True

        def _config_diff(self, run_dir: Path) -> list[str]:
            saved = run_dir / "config.yaml"
            if not saved.is_file():
                return []
            try:
                old = yaml.safe_load(saved.read_text()) or {}
            except yaml.YAMLError:
                return ["config.yaml (unreadable)"]
            return config_differences(old, self.config_dump)

        def instantiate_trainer(self, **kwargs: Any):
            trainer_cfg = self._get(self.config_init, "trainer", default={})
            if trainer_cfg.get("logger") in (None, True):
                kwargs["logger"] = [
                    RunCSVLogger(self.work_dir, name="logs", version=""),
                    RunTensorBoardLogger(self.work_dir, name="tb", version="",
                                         default_hp_metric=False),
                ]
            plugins = trainer_cfg.get("plugins")
            if plugins is None:
                kwargs["plugins"] = [AtomicCheckpointIO()]
            kwargs.setdefault("default_root_dir", str(self.work_dir))
            return super().instantiate_trainer(**kwargs)

    return WaveletNetworksCLI


def WaveletNetworksCLI(args: list[str], resources: ExitStack | None = None, signal_guard=None):
    """Parse ``args`` (fit options) and instantiate model, data and trainer."""
    return _cli_class()(args, resources, signal_guard)


def _prepare_run_dir(cli) -> list[Path]:
    """Rank 0: set up the folder the run trains in (marker, config.yaml, logs to continue).

    Clears it first only when :meth:`_decide_resume` said so (it is then a run
    directory or the staging folder of one), and removes a run directory that
    holds neither a result nor a checkpoint when the run is staged. Returns the
    folders this call created (deepest first), for clean-up on failure.
    """
    from wavelet_networks.training.resume import trim_metric_logs
    from wavelet_networks.training.run import remove_run_folder, write_marker, write_text_atomic

    wd: Path = cli.work_dir
    if not _rank_zero():
        return []
    if cli.clear_work_dir and wd.exists():
        remove_run_folder(wd)
    if cli.clear_run_dir:
        remove_run_folder(cli.run_dir)
    created = [p for p in (wd, *wd.parents) if not p.exists()]
    if cli.copies_resume_ckpt:
        _publish_with_resume_ckpt(cli)
    wd.mkdir(parents=True, exist_ok=True)
    write_marker(wd)
    for tmp in wd.rglob(".*.tmp*"):  # left by a process killed while writing
        tmp.unlink(missing_ok=True)
    if cli.resume_ckpt and Path(cli.resume_ckpt).resolve().parent.parent == wd.resolve():
        trim_metric_logs(wd / "logs", _logging_step(cli.resume_ckpt))
    write_text_atomic(wd / "config.yaml", yaml.safe_dump(cli.config_dump, sort_keys=False))
    return created


def _publish_with_resume_ckpt(cli) -> None:
    """``--resume PATH`` into a run directory without a checkpoint: stage it with PATH as last.ckpt.

    The staging folder gets the marker, ``config.yaml`` and a copy of the
    checkpoint, and is renamed to the run directory (replacing a marked one
    without a checkpoint, or an empty folder), so that the run directory holds
    a checkpoint to resume from from the moment it exists.
    """
    from wavelet_networks.training.run import (
        copy_file_atomic,
        incoming_dir_for,
        is_run_dir,
        publish_run_dir,
        remove_run_folder,
        write_marker,
        write_text_atomic,
    )

    rd = cli.run_dir
    staging = incoming_dir_for(rd)
    remove_run_folder(staging)
    staging.mkdir(parents=True)
    write_marker(staging)
    write_text_atomic(staging / "config.yaml", yaml.safe_dump(cli.config_dump, sort_keys=False))
    copy_file_atomic(cli.resume_ckpt, staging / "checkpoints" / "last.ckpt")
    if is_run_dir(rd):
        remove_run_folder(rd)
    publish_run_dir(staging, rd)


def _logging_step(ckpt_path: str) -> int:
    """The first logging step ``ckpt_path`` does not cover: its optimiser step count.

    Rows logged at a step below it (epoch-end rows carry the epoch's last step)
    precede the checkpoint; the resumed run logs the others.
    """
    from wavelet_networks._checkpoint import load_checkpoint_file

    return int(load_checkpoint_file(ckpt_path).get("global_step", 0))


def _remove_failed_run(cli, created: list[Path]) -> None:
    """Remove the folders a failed run created, unless it left a checkpoint to resume from.

    A staged run (see :class:`~wavelet_networks.training.resume.PublishRunDir`)
    whose only checkpoint is the step-0 one trained nothing worth resuming: its
    run directory is renamed back to the staging folder (so that no run
    directory is ever without a checkpoint) and removed.
    """
    from wavelet_networks.training.run import incoming_dir_for, remove_run_folder

    if not _rank_zero():
        return
    if cli.published:
        if not _holds_only_the_initial_checkpoint(cli.run_dir):
            return
        staging = incoming_dir_for(cli.run_dir)
        os.rename(cli.run_dir, staging)
        remove_run_folder(staging)
    elif not created or any(created[0].rglob("*.ckpt")):
        return
    else:
        shutil.rmtree(created[0], ignore_errors=True)
    for folder in created[1:]:
        try:
            folder.rmdir()  # only if empty
        except OSError:
            break


def _holds_only_the_initial_checkpoint(run_dir: Path) -> bool:
    """Whether ``run_dir`` has no result and no checkpoint but a step-0 ``last.ckpt``."""
    from wavelet_networks._checkpoint import load_checkpoint_file
    from wavelet_networks.training.run import RESULTS_FILE

    ckpts = list(run_dir.rglob("*.ckpt"))
    last = run_dir / "checkpoints" / "last.ckpt"
    if (run_dir / RESULTS_FILE).exists() or ckpts != [last]:
        return False
    try:
        return int(load_checkpoint_file(last).get("global_step", -1)) == 0
    except Exception:  # an unreadable checkpoint is not one to remove unasked
        return False


def check_splits(dm) -> None:
    """Raise a one-line error if a split of the data module ``dm`` holds no examples."""
    sizes = getattr(dm, "split_sizes", None)
    if not callable(sizes):
        return
    counts = sizes()
    empty = [s for s in ("train", "val", "test") if counts.get(s) == 0]
    if empty:
        what = ", ".join(f"{s} {counts.get(s)}" for s in ("train", "val", "test"))
        raise CLIError(
            f"the {' and '.join(empty)} split{'s' if len(empty) > 1 else ''} of data set "
            f"{getattr(dm, 'name', '') or type(dm).__name__!r} "
            f"{'are' if len(empty) > 1 else 'is'} empty ({what} examples); every split needs "
            "examples (check the data, the split column or the split fractions)"
        )


def _make_split_check_callback():
    from lightning.pytorch.callbacks import Callback

    class CheckSplits(Callback):
        """Fails a fit whose data has an empty split before its first step (after ``setup``)."""

        def on_fit_start(self, trainer, pl_module) -> None:
            if trainer.datamodule is not None:
                check_splits(trainer.datamodule)

    return CheckSplits


def _interruption(cli, signum: int, where: str | None) -> Exception:
    from wavelet_networks.training.resume import RunInterrupted

    if cli.config.resume == "never" and cli.replaces_run:
        detail = "a --resume never run is not resumed; the same command starts it again"
    elif cli.last_ckpt.is_file():
        detail = f"{cli.last_ckpt} is kept; run the same command again to resume"
    else:
        detail = "no checkpoint yet; the same command starts the run again"
    return RunInterrupted.at(signum, where, detail)


def run_fit(args: list[str]) -> dict[str, Any]:
    """Train, test the best checkpoint, write results; returns the results dict."""
    from wavelet_networks.training.resume import RunInterrupted, SignalGuard

    guard = SignalGuard()
    with ExitStack() as resources, guard:
        cli = WaveletNetworksCLI(preprocess_args(args), resources, guard)
        try:
            return _train_and_test(cli)
        except RunInterrupted as exc:
            if exc.complete:
                raise
            raise _interruption(cli, exc.signum, None) from None
        except SystemExit:
            # Lightning ends an epoch during which SIGTERM arrived with SIGTERMException.
            if guard.requested is None:
                raise
            trainer = cli.trainer
            raise _interruption(cli, guard.requested, f"step {trainer.global_step}, after "
                                f"{trainer.current_epoch} epochs") from None


def _train_and_test(cli) -> dict[str, Any]:
    """The body of :func:`run_fit` once the run directory is locked and decided."""
    from wavelet_networks._checkpoint import load_checkpoint_file
    from wavelet_networks.training.run import (
        RESULTS_FILE,
        plot_learning_curve,
        replace_run_dir,
        write_json_atomic,
    )

    trainer, model, dm = cli.trainer, cli.model, cli.datamodule
    rd: Path = cli.run_dir
    created = _prepare_run_dir(cli)
    if cli.resume_ckpt:
        print(f"resuming from {cli.resume_ckpt}")
    t0 = time.perf_counter()
    try:
        trainer.fit(model, datamodule=dm, ckpt_path=cli.resume_ckpt, weights_only=True)
        if trainer.interrupted:
            raise KeyboardInterrupt
        fit_s = time.perf_counter() - t0
        best = cli.checkpoint_callback.best_model_path or None
        t1 = time.perf_counter()
        test_out = trainer.test(model, datamodule=dm, ckpt_path=best, verbose=False,
                                weights_only=True)
        test_s = time.perf_counter() - t1
    except BaseException:
        _remove_failed_run(cli, created)
        if cli.fast_dev_run:
            shutil.rmtree(rd, ignore_errors=True)
        raise
    metrics: dict[str, Any] = dict(model.test_results)
    for key, value in (test_out[0] if test_out else {}).items():
        metrics.setdefault(key, value)
    if cli.fast_dev_run:
        shutil.rmtree(rd, ignore_errors=True)
        batches = int(trainer.fast_dev_run)
        if trainer.is_global_zero:
            print(f"fast_dev_run: {cli.config.model.model_name} on {cli.dataset} ran "
                  f"{batches} batch{'es' if batches > 1 else ''} of training, validation and "
                  "test; a smoke test, not a result: no run directory or results.json written")
        return {"model": cli.config.model.model_name, "dataset": cli.dataset,
                "fast_dev_run": batches, "metrics": metrics}
    key = "test/acc" if "test/acc" in metrics else "test/roc_auc"
    if metrics.get(key) is None:
        raise CLIError(f"testing {rd} gave no {key}: the test split produced no predictions; "
                       "the checkpoints are kept, no results.json was written")
    best_epoch = load_checkpoint_file(best).get("epoch") if best else None
    score = cli.checkpoint_callback.best_model_score
    import lightning
    import torch

    import wavelet_networks

    final_best = rd / "checkpoints" / Path(best).name if best else None
    results = {
        "model": cli.config.model.model_name,
        "dataset": cli.dataset,
        "fold": cli.config_dump["data"].get("init_args", {}).get("fold"),
        "seed": cli.seed,
        "params": model.num_parameters,
        "metrics": metrics,
        "best_val_loss": None if score is None else float(score),
        "best_epoch": best_epoch,
        "epochs_trained": trainer.current_epoch,
        "checkpoint": str(final_best.resolve()) if final_best else None,
        "times_s": {"fit": round(fit_s, 2), "test": round(test_s, 2),
                    "total": round(time.perf_counter() - t0, 2)},
        "resumed_from": cli.resume_ckpt,
        "world_size": trainer.world_size,
        "versions": {"wavelet_networks": wavelet_networks.__version__,
                     "torch": torch.__version__, "lightning": lightning.__version__},
        "config": cli.config_dump,
        "run_dir": str(rd),
    }
    if trainer.is_global_zero:
        label = "test acc" if key == "test/acc" else "test ROC-AUC"
        summary = (f"{results['model']} on {results['dataset']}: {label} {metrics[key]:.4f} "
                   f"({results['params']:,} params, {results['times_s']['total']:.0f} s) "
                   f"-> {rd / RESULTS_FILE}")
        wd: Path = cli.work_dir  # the run directory, or the staging folder of a replacement
        plot_learning_curve(wd / "logs", wd / "learning_curve.png",
                            title=f"{results['model']} on {results['dataset']}")
        write_json_atomic(wd / RESULTS_FILE, results)
        if wd != rd:
            replace_run_dir(rd, wd)
        print(summary)
    return results


def _with_default_config(args: list[str]) -> list[str]:
    """Without ``--config``, start from the packaged default config.

    Its trainer and optimiser settings (epochs, cosine schedule, ...) apply to
    any data set; with ``--data NAME`` its data section (ACSF1) is dropped
    (:func:`~wavelet_networks.cli.configs.preprocess_args`).
    """
    given = any(a in ("-c", "--config") or a.startswith("--config=") for a in args)
    return args if given else ["--config", "default", *args]


def _names_data(args: list[str]) -> bool:
    """Whether ``args`` (after :func:`preprocess_args`) name a data module or data config."""
    for i, arg in enumerate(args):
        key, eq, value = arg.partition("=")
        if key in ("--data", "--data.class_path"):
            return True
        if key in ("--config", "-c"):
            if not eq:
                value = args[i + 1] if i + 1 < len(args) else ""
            try:
                cfg = yaml.safe_load(value)
            except yaml.YAMLError:
                continue
            if isinstance(cfg, dict) and cfg.get("data"):
                return True
    return False


def _is_single_model(args: list[str]) -> bool:
    return any(a in ("-c", "--config", "--model") or a.startswith(("--config=", "--model"))
               for a in args)


def fit_command(args: list[str]) -> int:
    """``wavelet-networks fit``: one model, or the default pair without model/config args."""
    if _is_single_model(args) or any(a in ("-h", "--help") or a.startswith("--print_config")
                                     or a.endswith(".help") for a in args):
        run_fit(_with_default_config(args))
        return 0
    _one_thread_unless_set()
    rows = []
    for name in DEFAULT_PAIR:
        rows.append(run_fit(_with_default_config(["--model.model_name", name, *args])))
    if _rank_zero() and not any(r.get("fast_dev_run") for r in rows):
        from wavelet_networks.studies.scale import speed_accuracies

        print(format_comparison(rows, [speed_accuracies(r["checkpoint"]) for r in rows]))
    return 0


def _one_thread_unless_set() -> None:
    """One intra-op thread for the tiny default models, unless OMP_NUM_THREADS is set.

    Their convolutions are too small to gain from threads, and on a 2-core machine
    shared with other processes two threads made a w-small-cnn training step
    26 times slower (2.0 s instead of 0.077 s, batch 16, load average 3.8).
    """
    import os

    import torch

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)


def format_comparison(
    rows: list[dict[str, Any]], speeds: list[dict[str, float]] | None = None
) -> str:
    """Side-by-side table of finished runs (model, params, test accuracy, wall time).

    ``speeds``: per row, the test accuracy with the test set played at half
    and at double speed (:func:`wavelet_networks.studies.scale.speed_accuracies`,
    keys "0.5" and "2"), shown next to the test accuracy.
    """
    speed_head = f" {'half speed':>10} {'2x speed':>9}" if speeds else ""
    lines = [f"{'model':<14} {'params':>9} {'test acc':>9}{speed_head} {'best epoch':>10} "
             f"{'time (s)':>9}"]
    for i, r in enumerate(rows):
        acc = r["metrics"].get("test/acc", r["metrics"].get("test/roc_auc", math.nan))
        speed = f" {speeds[i]['0.5']:>10.4f} {speeds[i]['2']:>9.4f}" if speeds else ""
        lines.append(f"{r['model']:<14} {r['params']:>9,} {acc:>9.4f}{speed} "
                     f"{r['best_epoch'] if r['best_epoch'] is not None else '-':>10} "
                     f"{r['times_s']['total']:>9.1f}")
    if speeds:
        lines.append("half speed / 2x speed: test accuracy with every test series played at "
                     "half speed (stretched to twice its length) and at double speed (compressed "
                     "to half)")
    return "\n".join(lines)


CV_HELP = """\
usage: wavelet-networks cv [--folds FOLDS] [fit options]

Run `fit` once per fold of a k-fold data set (--data.fold K for every K in
FOLDS), each in its own run directory (fold-K), then report the test metric
(accuracy, or ROC-AUC for multi-label data) per fold and its mean +- std, and
write <run_root>/<dataset>/<model>/cv-seed-<seed>.json. Finished folds are
re-used (their results.json is read); unfinished folds resume.

options:
  --folds FOLDS   folds to run: "1-10", "1,2,3" (default: 1..num_folds of the
                  data module, e.g. 1-10 for UrbanSound8K)
  other options   as for `wavelet-networks fit` (see `wavelet-networks fit --help`)

example:
  wavelet-networks cv --config urbansound8k_m5 --data.protocol cv --data.root /data/UrbanSound8K --folds 1-10
"""


def _parse_folds(spec: str) -> list[int]:
    folds: list[int] = []
    try:
        for part in spec.split(","):
            a, sep, b = part.strip().partition("-")
            folds += list(range(int(a), int(b) + 1)) if sep else [int(a)]
    except ValueError:
        raise CLIError(f"--folds {spec!r}: expected e.g. '1-10' or '1,2,3'") from None
    if not folds:
        raise CLIError("--folds: no fold given")
    return folds


def cv_command(args: list[str]) -> int:
    """``wavelet-networks cv``: all folds, then mean +- std of the test metric."""
    import json
    import statistics

    from wavelet_networks.training.run import RESULTS_FILE, write_json_atomic

    if any(a in ("-h", "--help") for a in args):
        print(CV_HELP, end="")
        return 0
    folds_spec = None
    rest: list[str] = []
    it = iter(args)
    for a in it:
        if a == "--folds":
            folds_spec = next(it, None)
            if folds_spec is None:
                raise CLIError("--folds needs a value, e.g. --folds 1-10")
        elif a.startswith("--folds="):
            folds_spec = a.split("=", 1)[1]
        else:
            rest.append(a)
    if folds_spec is None:
        folds_spec = _default_folds(rest)
    folds = _parse_folds(folds_spec)
    rows = []
    for k in folds:
        fold_args = _with_default_config([*rest, "--data.fold", str(k)])
        cli_probe = None
        try:
            rows.append(run_fit(fold_args))
        except CLIError as exc:
            if "already holds a finished run" not in str(exc):
                raise
            cli_probe = str(exc).split("'")[1]
            rows.append(json.loads((Path(cli_probe) / RESULTS_FILE).read_text()))
            print(f"fold {k}: finished run re-used from {cli_probe}")
    if any(r.get("fast_dev_run") for r in rows):
        return 0  # smoke tests: nothing to summarise
    key = "test/acc" if "test/acc" in rows[0]["metrics"] else "test/roc_auc"
    values = [float(r["metrics"][key]) for r in rows]
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    summary = {
        "model": rows[0]["model"], "dataset": rows[0]["dataset"], "seed": rows[0]["seed"],
        "metric": key, "folds": folds, "values": values, "mean": mean, "std": std,
        "run_dirs": [r["run_dir"] for r in rows],
    }
    if _rank_zero():
        out = Path(rows[0]["run_dir"]).parent.parent / f"cv-seed-{rows[0]['seed']}.json"
        write_json_atomic(out, summary)
        for k, v in zip(folds, values, strict=True):
            print(f"fold {k}: {key} {v:.4f}")
        print(f"{summary['model']} on {summary['dataset']}, {len(folds)} folds: "
              f"{key} {mean:.4f} +- {std:.4f} (sample std) -> {out}")
    return 0


def _default_folds(args: list[str]) -> str:
    """``1-N`` from the data module's ``num_folds`` attribute (UrbanSound8K: 10)."""
    from wavelet_networks.cli.configs import (
        _load_config,
        config_path,
        data_class_path,
        import_class,
    )
    from wavelet_networks.data import DATASETS

    data = None
    for i, a in enumerate(args):
        if a in ("--config", "-c") and i + 1 < len(args):
            cfg = yaml.safe_load(_load_config(config_path(args[i + 1])))
            d = cfg.get("data") or {}
            data = d.get("class_path") if isinstance(d, dict) else d
        elif a in ("--data", "--data.class_path") and i + 1 < len(args):
            data = data_class_path(args[i + 1])
    name = dataset_name_of(data) if data else "acsf1"
    cls = DATASETS.get(name)
    if cls is None and data:
        cls = import_class(data)
    n = getattr(cls, "num_folds", None) or (10 if name == "urbansound8k" else None)
    if not n:
        raise CLIError(f"data set {name!r} has no folds; pass --folds, e.g. --folds 1-5")
    return f"1-{n}"

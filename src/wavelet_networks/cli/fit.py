"""``wavelet-networks fit`` and ``wavelet-networks cv``: training runs on LightningCLI."""

from __future__ import annotations

import argparse
import math
import shutil
import time
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

An interrupted run resumes from checkpoints/last.ckpt when the same command is
run again (--resume auto); a finished run (results.json present) is only
trained again with --overwrite true.
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


def _cli_class():
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
    from lightning.pytorch.cli import LightningCLI
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from wavelet_networks.training import WaveformClassifier
    from wavelet_networks.training.run import RESULTS_FILE, run_dir_for

    class WaveletNetworksCLI(LightningCLI):
        """LightningCLI that names the run directory and adds loggers and checkpoints."""

        def __init__(self, args: list[str]) -> None:
            from wavelet_networks.data import WaveformDataModule

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
                "never: start afresh (deletes the unfinished run's files); or a checkpoint path.",
            )
            parser.add_argument("--overwrite", type=bool, default=False,
                                help="Retrain a finished run (deletes its run directory first).")
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
            self._decide_resume()
            ckpt_dir = self.run_dir / "checkpoints"
            self.checkpoint_callback = ModelCheckpoint(
                dirpath=ckpt_dir, filename="best", monitor="val/loss", mode="min",
                save_last=True, auto_insert_metric_name=False, enable_version_counter=False,
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
            self.trainer_defaults["callbacks"] = [
                self.checkpoint_callback, run_info, LearningRateMonitor(logging_interval="epoch")
            ]

        def _decide_resume(self) -> None:
            cfg = self.config
            rd = self.run_dir
            finished = (rd / RESULTS_FILE).is_file()
            last = rd / "checkpoints" / "last.ckpt"
            self.clear_run_dir = False
            self.resume_ckpt: str | None = None
            if cfg.overwrite:
                self.clear_run_dir = rd.exists()
                return
            if finished:
                raise CLIError(
                    f"run directory {str(rd)!r} already holds a finished run ({RESULTS_FILE}); "
                    "pass --overwrite true to train it again, or choose another --run_root, "
                    "--run_dir or --seed_everything"
                )
            if cfg.resume == "never":
                self.clear_run_dir = rd.exists()
            elif cfg.resume == "auto":
                if last.is_file():
                    self._check_same_config()
                    self.resume_ckpt = str(last)
            else:
                path = Path(cfg.resume).expanduser()
                if not path.is_file():
                    raise CLIError(
                        f"--resume {cfg.resume!r}: no such checkpoint file; pass an existing "
                        ".ckpt path, 'auto' or 'never'"
                    )
                self.resume_ckpt = str(path)

        def _check_same_config(self) -> None:
            saved = self.run_dir / "config.yaml"
            if not saved.is_file():
                return
            old = yaml.safe_load(saved.read_text()) or {}

            def essential(cfg: dict[str, Any], key: str) -> Any:
                section = dict(cfg.get(key) or {})
                for linked in _LINKED:  # filled in from the data module at instantiation
                    section.pop(linked, None)
                return section

            for key in ("model", "data"):
                if essential(old, key) != essential(self.config_dump, key):
                    raise CLIError(
                        f"run directory {str(self.run_dir)!r} holds an unfinished run with a "
                        f"different {key} config; pass --resume never to start afresh, or "
                        "choose another --run_root or --run_dir"
                    )

        def instantiate_trainer(self, **kwargs: Any):
            trainer_cfg = self._get(self.config_init, "trainer", default={})
            if trainer_cfg.get("logger") in (None, True):
                kwargs["logger"] = [
                    CSVLogger(self.run_dir, name="logs", version=""),
                    TensorBoardLogger(self.run_dir, name="tb", version="", default_hp_metric=False),
                ]
            kwargs.setdefault("default_root_dir", str(self.run_dir))
            return super().instantiate_trainer(**kwargs)

    return WaveletNetworksCLI


def WaveletNetworksCLI(args: list[str]):
    """Parse ``args`` (fit options) and instantiate model, data and trainer."""
    return _cli_class()(args)


def _prepare_run_dir(cli) -> list[Path]:
    """Rank 0: clear a run directory to be retrained, save config.yaml.

    Returns the folders this call created (deepest first), for clean-up on failure.
    """
    rd: Path = cli.run_dir
    if not _rank_zero():
        return []
    if cli.clear_run_dir:
        shutil.rmtree(rd)
    created = [p for p in (rd, *rd.parents) if not p.exists()]
    rd.mkdir(parents=True, exist_ok=True)
    logs = rd / "logs" / "metrics.csv"
    if cli.resume_ckpt and logs.is_file():
        # The CSV logger starts a fresh metrics.csv; keep the earlier epochs beside it.
        n = len(list(logs.parent.glob("metrics-part*.csv")))
        logs.rename(logs.with_name(f"metrics-part{n:03d}.csv"))
    (rd / "config.yaml").write_text(yaml.safe_dump(cli.config_dump, sort_keys=False))
    return created


def _remove_failed_run(created: list[Path]) -> None:
    """Remove the folders a failed run created, unless it left a checkpoint to resume from."""
    if not created or any(created[0].rglob("*.ckpt")):
        return
    shutil.rmtree(created[0], ignore_errors=True)
    for folder in created[1:]:
        try:
            folder.rmdir()  # only if empty
        except OSError:
            break


def run_fit(args: list[str]) -> dict[str, Any]:
    """Train, test the best checkpoint, write results; returns the results dict."""
    import torch

    from wavelet_networks.training.run import (
        RESULTS_FILE,
        plot_learning_curve,
        write_json_atomic,
    )

    cli = WaveletNetworksCLI(preprocess_args(args))
    trainer, model, dm = cli.trainer, cli.model, cli.datamodule
    rd: Path = cli.run_dir
    created = _prepare_run_dir(cli)
    if cli.resume_ckpt:
        print(f"resuming from {cli.resume_ckpt}")
    t0 = time.perf_counter()
    try:
        trainer.fit(model, datamodule=dm, ckpt_path=cli.resume_ckpt)
        if trainer.interrupted:
            raise KeyboardInterrupt
        fit_s = time.perf_counter() - t0
        best = cli.checkpoint_callback.best_model_path or None
        t1 = time.perf_counter()
        test_out = trainer.test(model, datamodule=dm, ckpt_path=best, verbose=False)
        test_s = time.perf_counter() - t1
    except BaseException:
        _remove_failed_run(created)
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
    best_epoch = None
    if best:
        best_epoch = torch.load(best, map_location="cpu", weights_only=False).get("epoch")
    score = cli.checkpoint_callback.best_model_score
    import lightning

    import wavelet_networks

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
        "checkpoint": str(Path(best).resolve()) if best else None,
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
        plot_learning_curve(rd / "logs", rd / "learning_curve.png",
                            title=f"{results['model']} on {results['dataset']}")
        write_json_atomic(rd / RESULTS_FILE, results)
        acc = metrics.get("test/acc", metrics.get("test/roc_auc"))
        label = "test acc" if "test/acc" in metrics else "test ROC-AUC"
        print(f"{results['model']} on {results['dataset']}: {label} {acc:.4f} "
              f"({results['params']:,} params, {results['times_s']['total']:.0f} s) "
              f"-> {rd / RESULTS_FILE}")
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

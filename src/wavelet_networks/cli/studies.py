"""``wavelet-networks scale-study`` and ``wavelet-networks compare``."""

from __future__ import annotations

import shlex

from wavelet_networks.cli import ArgumentParser, CLIError

__all__ = ["compare_command", "scale_study_command"]

_FORWARDED = ("--data", "--model.", "--trainer.")

COMMON_EPILOG_NOTE = """
Other options starting with --data, --model. or --trainer. are passed to the
fit engine (e.g. --data.root DIR, --data.batch_size 8, --model.lr 1e-3).
Runs go to <run_root>/<dataset>/<model>/fold-<fold>/seed-<seed>/ like `fit`
runs; a finished run with the same settings is re-used (so an interrupted
study resumes, and compare re-uses the runs of scale-study), --overwrite
retrains. With the packaged `default` config (tiny models) torch uses one
intra-op thread unless OMP_NUM_THREADS is set, as `wavelet-networks fit` does.
"""

SCALE_DESCRIPTION = """\
Does scale equivariance pay? Train networks at the original time scale of a
data set (default: w-small-cnn, its CNN twin small-cnn, small-cnn trained with
resampling augmentation over [0.5, 2], and the scale-robust w-small-cnn-robust
trained with resampling augmentation over [0.5, 2] on half the batches, on the
embedded ACSF1 data, packaged config `default`; `--config forda` for FordA), then test them on the test set resampled by each factor (band-limited
resampling, wn.testing.resample; >1 stretches, <1 compresses; back to the
original length by centred crop or zero padding, or --length resampled).
Prints the accuracy per factor and model, and how often the prediction equals
the factor-1 prediction, and writes scale_study.json, scale_study.md and
scale_study.png (accuracy against factor, log axis) to --out.
""" + COMMON_EPILOG_NOTE

COMPARE_DESCRIPTION = """\
A wavelet network, its parameter-matched CNN and MiniRocket (aeon) trained and
tested side by side over several seeds (default: w-small-cnn, small-cnn and
MiniRocket on the embedded ACSF1 data, seeds 0,1,2). Prints test accuracy
(mean +- sample std over seeds; the mean alone for one seed), training time
and parameter count, and writes compare.json and compare.md to --out.
MiniRocket is fitted on every training series (the networks' training split,
unshuffled, nothing dropped). MiniRocket's "params" are its ridge classifier's
weights (classes x features + classes); its number of features is shown
beside them (its convolution kernels are fixed, not learned).
""" + COMMON_EPILOG_NOTE


def _ints(spec: str, what: str) -> list[int]:
    out: list[int] = []
    try:
        for part in spec.split(","):
            a, sep, b = part.strip().partition("-")
            out += list(range(int(a), int(b) + 1)) if sep and a else [int(part)]
    except ValueError:
        raise CLIError(f"--{what} {spec!r}: expected e.g. '0,1,2' or '0-2'") from None
    if not out:
        raise CLIError(f"--{what}: nothing given")
    return out


def _floats(spec: str) -> list[float]:
    try:
        out = [float(p) for p in spec.split(",") if p.strip()]
    except ValueError:
        raise CLIError(f"--factors {spec!r}: expected numbers, e.g. '0.5,0.71,1,1.41,2'"
                       ) from None
    if not out or any(not f > 0 for f in out):
        raise CLIError(f"--factors {spec!r}: expected numbers > 0, e.g. '0.5,1,2'")
    return out


def _default_config_epochs() -> int | str:
    """``trainer.max_epochs`` of the packaged ``default`` config (what --help states)."""
    import yaml

    from wavelet_networks.cli.configs import config_path

    cfg = yaml.safe_load(config_path("default").read_text()) or {}
    return (cfg.get("trainer") or {}).get("max_epochs", "?")


def _common(p: ArgumentParser, out_default: str) -> None:
    p.add_argument("--seeds", default="0,1,2", help="training seeds, e.g. '0,1,2' or '0-4' "
                   "(default: 0,1,2)")
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs (default: the config's trainer.max_epochs; "
                   f"{_default_config_epochs()} for `default`)")
    p.add_argument("--config", default="default",
                   help="fit config (packaged name or YAML file) giving the data set, optimiser "
                   "and trainer (default: default = ACSF1)")
    p.add_argument("--run_root", default="runs", help="root of the run directories "
                   "(default: runs)")
    p.add_argument("--out", default=out_default, help=f"output folder (default: {out_default})")
    p.add_argument("--overwrite", action="store_true", help="retrain finished runs")
    p.add_argument("--progress_every", type=int, default=10,
                   help="print a line every N training epochs (0: only per run; default: 10)")


def _forwarded(extra: list[str], prog: str) -> list[str]:
    for arg in extra:
        if arg.startswith("--") and not arg.startswith(_FORWARDED):
            raise CLIError(f"unrecognized argument {arg!r} (see `wavelet-networks {prog} --help`)")
    if extra and not extra[0].startswith("--"):
        raise CLIError(f"unexpected argument {extra[0]!r} (see `wavelet-networks {prog} --help`)")
    return extra


def _threads_for(config: str) -> None:
    """The packaged default and FordA configs train tiny models: one intra-op thread, as
    ``fit`` does."""
    if config in ("default", "default.yaml", "forda", "forda.yaml"):
        from wavelet_networks.cli.fit import _one_thread_unless_set

        _one_thread_unless_set()


def _check_epochs(epochs: int | None) -> None:
    if epochs is not None and epochs < 1:
        raise CLIError(f"--epochs must be >= 1, got {epochs}")


def _read_study(folder: str) -> dict:
    """The ``scale_study.json`` of a study's output folder (a CLIError naming what is wrong)."""
    import json
    from pathlib import Path

    path = Path(folder.strip()) / "scale_study.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CLIError(f"--merge: no scale_study.json in {folder.strip()!r}") from None
    except json.JSONDecodeError as exc:
        raise CLIError(f"--merge: {path} is not valid JSON: {exc}") from None


def scale_study_command(args: list[str]) -> int:
    """``wavelet-networks scale-study [options]``."""
    from wavelet_networks.studies.scale import (
        DEFAULT_FACTORS,
        DEFAULT_MODELS,
        format_scale_table,
        merge_scale_studies,
        parse_model_spec,
        run_scale_study,
        write_scale_study,
    )

    p = ArgumentParser(
        "scale-study", SCALE_DESCRIPTION,
        "wavelet-networks scale-study\n"
        "  wavelet-networks scale-study --seeds 0 --epochs 20 --factors 0.5,1,2\n"
        "  wavelet-networks scale-study --config urbansound8k_w-m11 --models w-m11,m11 "
        "--data.root /data/UrbanSound8K",
    )
    p.add_argument("--models", default=",".join(DEFAULT_MODELS),
                   help="comma-separated registry names; NAME@LO-HI trains NAME with "
                   "--data.augment_resample LO,HI, NAME@LO-HI:P with LO,HI,P (a fraction P of "
                   "the batches) (default: " + ",".join(DEFAULT_MODELS) + ")")
    p.add_argument("--factors", default=",".join(f"{f:g}" for f in DEFAULT_FACTORS),
                   help="test-set resampling factors (default: 0.5,0.71,1,1.41,2)")
    p.add_argument("--length", choices=("same", "resampled"), default="same",
                   help="same: crop or zero-pad the resampled test series back to the original "
                   "length (default); resampled: keep their new length, which separates the "
                   "change of scale from the loss of content (only for models that pool over "
                   "time, e.g. small-cnn and the M-nets, not for fixed-window heads)")
    p.add_argument("--merge", default=None, metavar="DIRS",
                   help="comma-separated output folders of studies over other seeds (same data, "
                   "models and factors): write their pooled table, JSON and plot to --out "
                   "instead of training")
    _common(p, "studies/scale")
    ns, extra = p.parse_known_args(args)
    if ns.merge is not None:
        try:
            result = merge_scale_studies([_read_study(d) for d in ns.merge.split(",")
                                          if d.strip()])
        except ValueError as exc:
            raise CLIError(f"--merge: {exc}") from None
        result["command"] = shlex.join(["wavelet-networks", "scale-study", *args])
        write_scale_study(result, ns.out)
        print(format_scale_table(result))
        print(f"wrote {ns.out}/scale_study.json, scale_study.md and scale_study.png")
        return 0
    fit_args = _forwarded(extra, "scale-study")
    _check_epochs(ns.epochs)
    models = [m.strip() for m in ns.models.split(",") if m.strip()]
    if not models:
        raise CLIError("--models: no model given")
    for spec in models:
        try:
            parse_model_spec(spec)
        except ValueError as exc:
            raise CLIError(f"--models: {exc}") from None
    _threads_for(ns.config)
    result = run_scale_study(
        models=models, factors=_floats(ns.factors), seeds=_ints(ns.seeds, "seeds"),
        epochs=ns.epochs, config=ns.config, fit_args=fit_args, run_root=ns.run_root,
        out_dir=ns.out, overwrite=ns.overwrite, progress_every=ns.progress_every or None,
        command=shlex.join(["wavelet-networks", "scale-study", *args]), length=ns.length,
    )
    print(format_scale_table(result))
    print(f"wrote {ns.out}/scale_study.json, scale_study.md and scale_study.png "
          f"({result['wall_time_s']:.0f} s)")
    return 0


def compare_command(args: list[str]) -> int:
    """``wavelet-networks compare [options]``."""
    from wavelet_networks.studies.compare import format_compare_table, run_compare

    p = ArgumentParser(
        "compare", COMPARE_DESCRIPTION,
        "wavelet-networks compare\n"
        "  wavelet-networks compare --seeds 0-4 --epochs 30\n"
        "  wavelet-networks compare --config urbansound8k_w-m11 --model w-m11 "
        "--data.root /data/UrbanSound8K",
    )
    p.add_argument("--model", default="w-small-cnn",
                   help="the wavelet network (default: w-small-cnn)")
    p.add_argument("--baseline", default=None,
                   help="its CNN (default: the parameter-matched twin from its model card)")
    p.add_argument("--no_minirocket", action="store_true", help="leave MiniRocket out")
    p.add_argument("--n_kernels", type=int, default=10_000,
                   help="MiniRocket kernels (default: 10000, aeon's default)")
    _common(p, "studies/compare")
    ns, extra = p.parse_known_args(args)
    fit_args = _forwarded(extra, "compare")
    _check_epochs(ns.epochs)
    _threads_for(ns.config)
    result = run_compare(
        wavelet_model=ns.model, baseline=ns.baseline, seeds=_ints(ns.seeds, "seeds"),
        epochs=ns.epochs, config=ns.config, fit_args=fit_args, run_root=ns.run_root,
        out_dir=ns.out, minirocket=not ns.no_minirocket, n_kernels=ns.n_kernels,
        overwrite=ns.overwrite, progress_every=ns.progress_every or None,
        command=shlex.join(["wavelet-networks", "compare", *args]),
    )
    print(format_compare_table(result))
    print(f"wrote {ns.out}/compare.json and compare.md ({result['wall_time_s']:.0f} s)")
    return 0

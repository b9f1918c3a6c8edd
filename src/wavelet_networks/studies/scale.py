"""Scale study: train at the data's own time scale, test on resampled test sets.

A wavelet network and its parameter-matched baseline are trained with the
``fit`` engine on the original data (factor 1), then every test series is
resampled by each factor ``f`` with ideal band-limited (Fourier) resampling,
``y(t) = x(t / f)`` (:func:`wavelet_networks.testing.resample`; ``f > 1``
stretches, ``f < 1`` compresses), brought back to the original length by a
centred crop (``f > 1``) or centred zero padding (``f < 1``), and classified.
When the data set normalises every series on its own (``normalization =
"per-series"``, e.g. ACSF1) the normalisation is applied again after the crop,
before the padding, as a user would preprocess a recording made at another rate.

A network whose features are equivariant to dilations and pooled over scales
should lose less accuracy away from ``f = 1`` than one that is not; the study
measures how much, whichever way it comes out.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from wavelet_networks.studies.common import (
    data_module_from_checkpoint,
    iter_split,
    machine_info,
    train_or_reuse,
)
from wavelet_networks.testing import resample

__all__ = [
    "DEFAULT_FACTORS",
    "DEFAULT_MODELS",
    "evaluate_resampled",
    "evaluate_speeds",
    "factor_key",
    "format_scale_table",
    "merge_scale_studies",
    "parse_model_spec",
    "resample_to_length",
    "run_scale_study",
    "speed_accuracies",
]

#: Resampling factors of the study: half an octave apart, 0.5 .. 2.
DEFAULT_FACTORS = (0.5, 0.71, 1.0, 1.41, 2.0)


def factor_key(factor: float) -> str:
    """The key of a factor in the study's JSON (``%g``: 1.0 -> "1", 0.71 -> "0.71")."""
    return f"{float(factor):g}"


def _standardize(x: Tensor, eps: float = 1e-8) -> Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    std = x.std(dim=-1, keepdim=True, unbiased=False)
    return (x - mean) / torch.where(std < eps, torch.ones_like(std), std)


def resample_to_length(
    x: Tensor, factor: float, per_series_norm: bool = False, keep_length: bool = True
) -> Tensor:
    """Resample ``x`` (``(..., time)``) by ``factor`` and restore its length.

    Band-limited resampling (:func:`wavelet_networks.testing.resample`), then a
    centred crop (longer) or centred zero padding (shorter). With
    ``per_series_norm`` every series is z-scored after the crop, before the padding.
    With ``keep_length=False`` the resampled series keeps its new length
    ``round(time * factor)`` (no crop, no padding: for models that pool over time).
    """
    n = x.shape[-1]
    if factor == 1:
        y = x.clone()
    else:
        y = resample(x.double(), factor).to(x.dtype)
    if not keep_length:
        return _standardize(y) if per_series_norm else y
    m = y.shape[-1]
    if m > n:
        start = (m - n) // 2
        y = y[..., start : start + n]
    if per_series_norm:
        y = _standardize(y)
    if m < n:
        left = (n - m) // 2
        y = torch.nn.functional.pad(y, (left, n - m - left))
    return y


def evaluate_resampled(
    ckpt: str | Path,
    factors: Sequence[float],
    log: Callable[[str], None] | None = None,
    keep_length: bool = True,
) -> dict[str, float]:
    """Test metric of a ``fit`` checkpoint on its test split resampled by every factor.

    Returns ``{factor_key(f): value}``: accuracy for multi-class models,
    macro ROC-AUC for multi-label ones. ``keep_length``: see :func:`resample_to_length`.
    """
    return evaluate_speeds(ckpt, factors, log, keep_length)["metric"]


def evaluate_speeds(
    ckpt: str | Path,
    factors: Sequence[float],
    log: Callable[[str], None] | None = None,
    keep_length: bool = True,
    split: str = "test",
) -> dict[str, dict[str, float]]:
    """Test metric per resampling factor, and how often the prediction is the factor-1 one.

    Returns ``{"metric": {key: value}, "agreement": {key: fraction}}`` keyed by
    :func:`factor_key`: the metric as :func:`evaluate_resampled`; the agreement
    is the fraction of test series whose predicted class (arg-max of the
    logits, multi-class only; multi-label models get none) at factor ``f``
    equals the one at factor 1 (the plain test set). ``split="val"`` measures
    the validation split instead (for choosing settings without the test set).
    """
    from wavelet_networks._validation import check_choice
    from wavelet_networks.training import WaveformClassifier

    check_choice(split, "split", ("val", "test"))
    model = WaveformClassifier.load_from_checkpoint(ckpt, map_location="cpu")
    model.eval()
    dm, info = data_module_from_checkpoint(ckpt)
    per_series = info.get("normalization") == "per-series"
    multilabel = model.hparams.task == "multilabel"
    keys = {factor_key(f): f for f in sorted({*factors, 1.0})}
    logits: dict[str, list[Tensor]] = {k: [] for k in keys}
    targets: list[Tensor] = []
    with torch.no_grad():
        for x, y in iter_split(dm, split):
            targets.append(y)
            for key, f in keys.items():
                xr = resample_to_length(x, f, per_series, keep_length)
                logits[key].append(model(xr))
    y = torch.cat(targets)
    out: dict[str, dict[str, float]] = {"metric": {}, "agreement": {}}
    reference = torch.cat(logits["1"]).argmax(-1)
    for f in factors:
        key = factor_key(f)
        z = torch.cat(logits[key])
        if multilabel:
            from torchmetrics.functional.classification import multilabel_auroc

            value = float(multilabel_auroc(z.sigmoid(), y.int(), num_labels=z.shape[-1]))
        else:
            value = float((z.argmax(-1) == y).float().mean())
            out["agreement"][key] = float((z.argmax(-1) == reference).float().mean())
        out["metric"][key] = value
        if log:
            same = (f", same prediction as at 1: {out['agreement'][key]:.4f}"
                    if key in out["agreement"] else "")
            log(f"    factor {key:>5}: {'ROC-AUC' if multilabel else 'accuracy'} {value:.4f}"
                + same)
    return out


def speed_accuracies(ckpt: str | Path, speeds: Sequence[float] = (0.5, 2.0)) -> dict[str, float]:
    """Test accuracy of a ``fit`` checkpoint with its test set played at other speeds.

    Speed ``v`` plays every test series ``v`` times as fast: resampled by
    ``1 / v`` (half speed stretches it to twice its length, double speed
    compresses it to half), kept at its new length, normalised again where the
    data set normalises every series. Returns ``{factor_key(v): accuracy}``
    (ROC-AUC for multi-label data). The models must accept any length.
    """
    metric = evaluate_speeds(ckpt, [1 / v for v in speeds], keep_length=False)["metric"]
    return {factor_key(v): metric[factor_key(1 / v)] for v in speeds}


def parse_model_spec(spec: str) -> tuple[str, tuple[float, ...] | None]:
    """``"NAME"``, ``"NAME@LO-HI"`` (trained with resampling augmentation over [LO, HI]) or
    ``"NAME@LO-HI:P"`` (augmentation on a random fraction ``P`` of the training batches).

    Returns ``(NAME, (LO, HI) or (LO, HI, P) or None)``; raises ValueError naming the
    expected form.
    """
    from wavelet_networks.data.base import parse_resample_spec

    name, at, rng = spec.strip().partition("@")
    if not name:
        raise ValueError(f"model {spec!r}: expected NAME or NAME@LO-HI, e.g. small-cnn@0.5-2")
    if not at:
        return name, None
    rng, colon, fraction = rng.partition(":")
    lo, dash, hi = rng.partition("-")
    try:
        parsed = (parse_resample_spec(f"{lo},{hi}" + (f",{fraction}" if colon else ""))
                  if dash else None)  # fmt: skip
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(
            f"model {spec!r}: expected NAME@LO-HI with 0 < LO <= HI, e.g. small-cnn@0.5-2, "
            "or NAME@LO-HI:P with a fraction 0 < P <= 1 of the batches"
        )
    return name, parsed if colon else parsed[:2]


def augment_option(augment: tuple[float, ...]) -> tuple[str, str]:
    """``(--data.augment_resample value, run sub-folder)`` of a parsed ``NAME@...`` range."""
    value = ",".join(f"{v:g}" for v in augment)
    folder = f"augment-{augment[0]:g}-{augment[1]:g}" + (f"-p{augment[2]:g}"
                                                          if len(augment) > 2 else "")
    return value, folder


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


#: The study's default models: the W- model, its CNN twin, the CNN trained with resampling
#: augmentation over [0.5, 2], and the scale-robust W- model trained with resampling
#: augmentation over [0.5, 2] on half the batches (chosen on FordA's validation split,
#: ``benchmarks/scale_robust_recipe.py``).
DEFAULT_MODELS = ("w-small-cnn", "small-cnn", "small-cnn@0.5-2", "w-small-cnn-robust@0.5-2:0.5")


def run_scale_study(
    models: Sequence[str] = DEFAULT_MODELS,
    factors: Sequence[float] = DEFAULT_FACTORS,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int | None = None,
    config: str = "default",
    fit_args: Sequence[str] = (),
    run_root: str | Path = "runs",
    out_dir: str | Path | None = "studies/scale",
    overwrite: bool = False,
    progress_every: int | None = 10,
    log: Callable[[str], None] = print,
    command: str | None = None,
    length: str = "same",
) -> dict[str, Any]:
    """Train every model once per seed at factor 1, then test it at every factor.

    Writes ``scale_study.json``, ``scale_study.md`` (table) and
    ``scale_study.png`` (accuracy against factor, log axis) to ``out_dir``
    (unless ``None``) and returns the JSON object: ``models -> spec ->
    {params, family, mean, std, per_seed, agreement_mean, agreement_std,
    agreement_per_seed, run_dirs}``, keyed by :func:`factor_key`, ``std`` the
    sample standard deviation over seeds (0 for one seed); the agreement is
    the fraction of test series predicted as at factor 1.

    Args:
        models: registry names, or ``NAME@LO-HI`` for a model trained with
            ``--data.augment_resample LO,HI`` (``NAME@LO-HI:P``: ``LO,HI,P``; its runs go under
            ``<run_root>/augment-LO-HI[-pP]``); default :data:`DEFAULT_MODELS`.
        factors: resampling factors of the test set (> 0).
        seeds: training seeds (one run per model and seed).
        epochs: training epochs (``None``: the config's ``trainer.max_epochs``).
        config: ``fit`` config giving data set, optimiser and trainer (``default``: ACSF1).
        fit_args: further ``fit`` options, e.g. ``["--data.root", DIR]``.
        run_root: root of the run directories (finished runs with the same settings are re-used).
        out_dir: where the JSON, table and plot go.
        overwrite: retrain finished runs.
        progress_every: print a training line every this many epochs (``None``: quiet).
        log: where progress lines go.
        command: the command line, recorded in the JSON.
        length: ``"same"`` (crop or zero-pad the resampled series back to the
            original length) or ``"resampled"`` (keep the new length
            ``round(time * factor)``; the models pool over time, so they take it).
    """
    from wavelet_networks.models import card

    if length not in ("same", "resampled"):
        raise ValueError(f"length must be 'same' or 'resampled', got {length!r}")
    if not models:
        raise ValueError("no model given")
    if not seeds:
        raise ValueError("no seed given")
    if not factors or any(not (f > 0 and math.isfinite(f)) for f in factors):
        raise ValueError(f"factors must be finite numbers > 0, got {list(factors)}")
    specs = {spec: parse_model_spec(spec) for spec in models}
    for name, _ in specs.values():
        card(name)  # unknown model: one-line error before any training
    factors = sorted({float(f) for f in factors})
    t0 = time.perf_counter()
    result: dict[str, Any] = {
        "study": "scale",
        "metric": None,
        "dataset": None,
        "factors": factors,
        "seeds": list(seeds),
        "epochs": epochs,
        "config": config,
        "fit_args": list(fit_args),
        "length": length,
        "models": {},
        "protocol": (
            "trained at factor 1 with the fit engine (best checkpoint by validation loss; "
            "NAME@LO-HI: with --data.augment_resample LO,HI, NAME@LO-HI:P: LO,HI,P); test "
            "series resampled by wavelet_networks.testing.resample (band-limited, y(t) = "
            "x(t/f)), "
            + ("centred crop (f > 1) or centred zero padding (f < 1) back to the original length"
               if length == "same" else "kept at their new length round(time * f)")
            + "; per-series z-score re-applied (after the crop) when the data set uses it; "
            "agreement: fraction of test series predicted as at f = 1"
        ),
    }
    total = len(specs) * len(seeds)
    i = 0
    for spec, (name, augment) in specs.items():
        per_seed: dict[str, dict[str, float]] = {}
        agreement: dict[str, dict[str, float]] = {}
        run_dirs = []
        params = None
        spec_args, spec_root = list(fit_args), Path(run_root)
        if augment is not None:
            value, folder = augment_option(augment)
            spec_args += ["--data.augment_resample", value]
            spec_root = spec_root / folder
        for seed in seeds:
            i += 1
            log(f"[{i}/{total}] {spec}, seed {seed}: training at factor 1")
            res = train_or_reuse(name, seed, spec_root, config, epochs, spec_args, overwrite,
                                 progress_every, log)
            if not res.get("checkpoint"):
                raise RuntimeError(f"run {res.get('run_dir')!r} saved no best checkpoint")
            log(f"[{i}/{total}] {spec}, seed {seed}: testing on {len(factors)} resampled test sets")
            measured = evaluate_speeds(res["checkpoint"], factors, log,
                                       keep_length=length == "same")
            per_seed[str(seed)] = measured["metric"]
            agreement[str(seed)] = measured["agreement"]
            run_dirs.append(res["run_dir"])
            params = res["params"]
            result["dataset"] = res["dataset"]
            if result["epochs"] is None:
                result["epochs"] = (res.get("config") or {}).get("trainer", {}).get("max_epochs")
            result["metric"] = "accuracy" if "test/acc" in res["metrics"] else "roc_auc"
        entry: dict[str, Any] = {"params": params, "family": card(name).family,
                                 "augment_resample": list(augment) if augment else None}
        for label, values in (("", per_seed), ("agreement_", agreement)):
            mean, std = {}, {}
            for f in factors:
                k = factor_key(f)
                if all(k in values[s] for s in values):
                    mean[k], std[k] = _mean_std([values[s][k] for s in values])
            entry[f"{label}mean"], entry[f"{label}std"] = mean, std
            entry[f"{label}per_seed"] = values
        entry["run_dirs"] = run_dirs
        result["models"][spec] = entry
    result["wall_time_s"] = round(time.perf_counter() - t0, 1)
    result["machine"] = machine_info()
    if command:
        result["command"] = command
    if out_dir is not None:
        write_scale_study(result, out_dir)
    return result


def merge_scale_studies(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One study from studies of the same data set, factors and models over other seeds.

    Per model the per-seed values are pooled and the mean and sample std
    recomputed (as :func:`run_scale_study` does); ``seeds``, ``run_dirs`` and
    the wall time add up. Raises a ValueError where the studies differ in data
    set, factors, length handling or models, or share a seed.
    """
    if not results:
        raise ValueError("no study to merge")
    first = results[0]
    merged = {**first, "seeds": [], "models": {}, "wall_time_s": 0.0}
    merged.pop("command", None)
    for r in results:
        for key in ("dataset", "factors", "length"):
            if r.get(key) != first.get(key):
                raise ValueError(f"studies differ in {key}: {first.get(key)!r} and {r.get(key)!r}")
        if list(r["models"]) != list(first["models"]):
            raise ValueError(f"studies differ in models: {list(first['models'])} and "
                             f"{list(r['models'])}")
        shared = set(map(str, merged["seeds"])) & set(map(str, r["seeds"]))
        if shared:
            raise ValueError(f"seed {sorted(shared)[0]} is in more than one study")
        merged["seeds"] += list(r["seeds"])
        merged["wall_time_s"] = round(merged["wall_time_s"] + r.get("wall_time_s", 0.0), 1)
    keys = [factor_key(f) for f in first["factors"]]
    for spec, entry in first["models"].items():
        out = {k: v for k, v in entry.items() if not k.endswith(("mean", "std", "per_seed"))}
        out["run_dirs"] = [d for r in results for d in r["models"][spec].get("run_dirs", [])]
        for label in ("", "agreement_"):
            per_seed = {s: v for r in results
                        for s, v in r["models"][spec].get(f"{label}per_seed", {}).items()}
            mean, std = {}, {}
            for k in keys:
                if per_seed and all(k in v for v in per_seed.values()):
                    mean[k], std[k] = _mean_std([v[k] for v in per_seed.values()])
            out[f"{label}mean"], out[f"{label}std"], out[f"{label}per_seed"] = mean, std, per_seed
        merged["models"][spec] = out
    return merged


def write_scale_study(result: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``scale_study.json``, ``scale_study.md`` and ``scale_study.png`` to ``out_dir``."""
    from wavelet_networks import plots
    from wavelet_networks.training.run import write_json_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "scale_study.json", "md": out / "scale_study.md",
             "png": out / "scale_study.png"}
    write_json_atomic(paths["json"], result)
    paths["md"].write_text(format_scale_table(result, markdown=True) + "\n")
    plots.plot_scale_study(result, out=paths["png"])
    return paths


def format_scale_table(result: dict[str, Any], markdown: bool = False) -> str:
    """One row per factor, one column per model: mean (± std over seeds when several).

    Each cell also gives, in brackets, the mean fraction of test series whose
    prediction equals the factor-1 prediction (where the JSON holds it).
    """
    names = list(result["models"])
    n = len(result["seeds"])
    metric = "accuracy" if result.get("metric") in (None, "accuracy") else "ROC-AUC"

    agree = all(r.get("agreement_mean") for r in result["models"].values())

    def cell(name: str, k: str) -> str:
        r = result["models"][name]
        text = f"{r['mean'][k]:.3f} ± {r['std'][k]:.3f}" if n > 1 else f"{r['mean'][k]:.3f}"
        return text + (f" ({r['agreement_mean'][k]:.2f})" if agree else "")

    header = ["factor", *[f"{nm} ({result['models'][nm]['params']:,} params)" for nm in names]]
    rows = [[factor_key(f), *[cell(nm, factor_key(f)) for nm in names]]
            for f in result["factors"]]
    how = ("kept at the resampled length" if result.get("length") == "resampled"
           else "cropped/padded to the original length")
    caption = (f"test {metric} on {result['dataset']} resampled by each factor, {how} "
               f"(trained at 1; {n} seed{'s' if n > 1 else ''}"
               f"{', mean ± sample std' if n > 1 else ''})"
               + ("; in brackets: the fraction of test series predicted as at factor 1"
                  if agree else ""))
    if markdown:
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join(["---:"] * len(header)) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines) + f"\n\n{caption[0].upper()}{caption[1:]}."
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(header, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return caption + "\n" + "\n".join(lines)

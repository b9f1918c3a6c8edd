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
    "evaluate_resampled",
    "factor_key",
    "format_scale_table",
    "resample_to_length",
    "run_scale_study",
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
    from wavelet_networks.training import WaveformClassifier

    model = WaveformClassifier.load_from_checkpoint(ckpt, map_location="cpu")
    model.eval()
    dm, info = data_module_from_checkpoint(ckpt)
    per_series = info.get("normalization") == "per-series"
    multilabel = model.hparams.task == "multilabel"
    logits: dict[str, list[Tensor]] = {factor_key(f): [] for f in factors}
    targets: list[Tensor] = []
    with torch.no_grad():
        for x, y in iter_split(dm, "test"):
            targets.append(y)
            for f in factors:
                xr = resample_to_length(x, f, per_series, keep_length)
                logits[factor_key(f)].append(model(xr))
    y = torch.cat(targets)
    out: dict[str, float] = {}
    for key, parts in logits.items():
        z = torch.cat(parts)
        if multilabel:
            from torchmetrics.functional.classification import multilabel_auroc

            value = float(multilabel_auroc(z.sigmoid(), y.int(), num_labels=z.shape[-1]))
        else:
            value = float((z.argmax(-1) == y).float().mean())
        out[key] = value
        if log:
            log(f"    factor {key:>5}: {'ROC-AUC' if multilabel else 'accuracy'} {value:.4f}")
    return out


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


def run_scale_study(
    models: Sequence[str] = ("w-small-cnn", "small-cnn"),
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
    (unless ``None``) and returns the JSON object: ``models -> name ->
    {params, family, mean, std, per_seed, run_dirs}``, ``mean``/``std`` keyed by
    :func:`factor_key`, ``std`` the sample standard deviation over seeds
    (0 for one seed).

    Args:
        models: registry names (default: ``w-small-cnn`` and its baseline ``small-cnn``).
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
    for name in models:
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
            "trained at factor 1 with the fit engine (best checkpoint by validation loss); test "
            "series resampled by wavelet_networks.testing.resample (band-limited, y(t) = "
            "x(t/f)), "
            + ("centred crop (f > 1) or centred zero padding (f < 1) back to the original length"
               if length == "same" else "kept at their new length round(time * f)")
            + "; per-series z-score re-applied (after the crop) when the data set uses it"
        ),
    }
    total = len(models) * len(seeds)
    i = 0
    for name in models:
        per_seed: dict[str, dict[str, float]] = {}
        run_dirs = []
        params = None
        for seed in seeds:
            i += 1
            log(f"[{i}/{total}] {name}, seed {seed}: training at factor 1")
            res = train_or_reuse(name, seed, run_root, config, epochs, fit_args, overwrite,
                                 progress_every, log)
            if not res.get("checkpoint"):
                raise RuntimeError(f"run {res.get('run_dir')!r} saved no best checkpoint")
            log(f"[{i}/{total}] {name}, seed {seed}: testing on {len(factors)} resampled test sets")
            per_seed[str(seed)] = evaluate_resampled(res["checkpoint"], factors, log,
                                                     keep_length=length == "same")
            run_dirs.append(res["run_dir"])
            params = res["params"]
            result["dataset"] = res["dataset"]
            if result["epochs"] is None:
                result["epochs"] = (res.get("config") or {}).get("trainer", {}).get("max_epochs")
            result["metric"] = "accuracy" if "test/acc" in res["metrics"] else "roc_auc"
        mean, std = {}, {}
        for f in factors:
            k = factor_key(f)
            mean[k], std[k] = _mean_std([per_seed[s][k] for s in per_seed])
        result["models"][name] = {
            "params": params, "family": card(name).family, "mean": mean, "std": std,
            "per_seed": per_seed, "run_dirs": run_dirs,
        }
    result["wall_time_s"] = round(time.perf_counter() - t0, 1)
    result["machine"] = machine_info()
    if command:
        result["command"] = command
    if out_dir is not None:
        write_scale_study(result, out_dir)
    return result


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
    """One row per factor, one column per model: mean (± std over seeds when several)."""
    names = list(result["models"])
    n = len(result["seeds"])
    metric = "accuracy" if result.get("metric") in (None, "accuracy") else "ROC-AUC"

    def cell(name: str, k: str) -> str:
        r = result["models"][name]
        return f"{r['mean'][k]:.3f} ± {r['std'][k]:.3f}" if n > 1 else f"{r['mean'][k]:.3f}"

    header = ["factor", *[f"{nm} ({result['models'][nm]['params']:,} params)" for nm in names]]
    rows = [[factor_key(f), *[cell(nm, factor_key(f)) for nm in names]]
            for f in result["factors"]]
    how = ("kept at the resampled length" if result.get("length") == "resampled"
           else "cropped/padded to the original length")
    caption = (f"test {metric} on {result['dataset']} resampled by each factor, {how} "
               f"(trained at 1; {n} seed{'s' if n > 1 else ''}"
               f"{', mean ± sample std' if n > 1 else ''})")
    if markdown:
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join(["---:"] * len(header)) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines) + f"\n\n{caption[0].upper()}{caption[1:]}."
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(header, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return caption + "\n" + "\n".join(lines)

"""Compare a wavelet network, its parameter-matched CNN and MiniRocket over several seeds.

The two networks are trained with the ``fit`` engine (same config, data
split and test split as ``wavelet-networks fit``; the best checkpoint by
validation loss is tested). MiniRocket (aeon's ``MiniRocketClassifier``:
the MiniRocket transform, feature scaling, ``RidgeClassifierCV``) is fitted
on the same training split (the validation series are not used: it selects
its ridge penalty by internal leave-one-out cross-validation) with
``random_state = seed`` and tested on the same test split.

What "parameters" means for MiniRocket: its transform has no trained weights
(the kernels are fixed), but it fits one bias per feature (quantiles of the
training convolutions) and the scaler fits one scale per feature; the trained
classifier is the ridge: ``classes x features + classes`` weights. The table
counts the ridge weights as "params" and reports the number of features and
of fitted biases next to them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wavelet_networks.studies.common import (
    data_module_from_checkpoint,
    iter_split,
    machine_info,
    train_or_reuse,
)

__all__ = ["fit_minirocket", "format_compare_table", "run_compare"]


def _arrays(dm, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Every series of ``split`` once, in order.

    For "train" not the loader the networks train on: it shuffles and drops a
    last batch of one series, which MiniRocket has no reason to lose.
    """
    batches: Any = iter_split(dm, split)
    if split == "train":
        from torch.utils.data import DataLoader

        loader = dm.train_dataloader()
        batches = DataLoader(loader.dataset, batch_size=loader.batch_size or 1, shuffle=False,
                             drop_last=False, collate_fn=loader.collate_fn)
    xs, ys = [], []
    for x, y in batches:
        xs.append(x.numpy())
        ys.append(y.numpy())
    return np.concatenate(xs).astype(np.float64), np.concatenate(ys)


def fit_minirocket(
    dm, seed: int, n_kernels: int = 10_000, n_jobs: int = 1
) -> dict[str, Any]:
    """Fit MiniRocket on ``dm``'s training split and test it; a results dict.

    Test batches of shape ``(batch, segments, channels, time)`` are scored per
    segment and the ridge decision values averaged over segments. torch's
    thread count is restored afterwards: aeon's MiniRocket sets numba's, which
    (with numba's OpenMP layer) changes the OpenMP threads torch uses.
    """
    import torch

    threads = torch.get_num_threads()
    try:
        return _fit_minirocket(dm, seed, n_kernels, n_jobs)
    finally:
        torch.set_num_threads(threads)


def _fit_minirocket(dm, seed: int, n_kernels: int, n_jobs: int) -> dict[str, Any]:
    from aeon.classification.convolution_based import MiniRocketClassifier

    if getattr(dm, "task", "multiclass") != "multiclass":
        raise ValueError("the MiniRocket comparison supports multi-class data sets only")
    x_train, y_train = _arrays(dm, "train")
    if x_train.ndim != 3:
        raise ValueError(f"training batches must be (batch, channels, time), got {x_train.shape}")
    clf = MiniRocketClassifier(n_kernels=n_kernels, random_state=seed, n_jobs=n_jobs)
    t0 = time.perf_counter()
    clf.fit(x_train, y_train)
    fit_s = time.perf_counter() - t0
    x_test, y_test = _arrays(dm, "test")
    t1 = time.perf_counter()
    if x_test.ndim == 4:
        b, s = x_test.shape[:2]
        scores = clf.pipeline_.decision_function(x_test.reshape(b * s, *x_test.shape[2:]))
        scores = scores.reshape(b, s, -1).mean(axis=1)
        pred = clf.classes_[scores.argmax(-1)]
    else:
        pred = clf.predict(x_test)
    test_s = time.perf_counter() - t1
    ridge = clf.pipeline_.steps[-1][1]
    n_features = int(ridge.coef_.shape[-1])
    biases = clf.pipeline_.steps[0][1].parameters[-1]
    return {
        "model": "minirocket",
        "acc": float((pred == y_test).mean()),
        "params": int(ridge.coef_.size + np.size(ridge.intercept_)),
        "features": n_features,
        "fitted_biases": int(np.size(biases)),
        "ridge_alpha": float(ridge.alpha_),
        "train_series": len(y_train),
        "times_s": {"fit": round(fit_s, 2), "test": round(test_s, 2)},
    }


def _summary(values: list[float]) -> dict[str, float | None]:
    """Mean and sample standard deviation (``None`` for one value: no spread to measure)."""
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else None}


def run_compare(
    wavelet_model: str = "w-small-cnn",
    baseline: str | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int | None = None,
    config: str = "default",
    fit_args: Sequence[str] = (),
    run_root: str | Path = "runs",
    out_dir: str | Path | None = "studies/compare",
    minirocket: bool = True,
    n_kernels: int = 10_000,
    overwrite: bool = False,
    progress_every: int | None = 10,
    log: Callable[[str], None] = print,
    command: str | None = None,
) -> dict[str, Any]:
    """Train and test the three models once per seed; summary as a dict (and files).

    Writes ``compare.json`` and ``compare.md`` to ``out_dir`` (unless ``None``).
    The returned object has ``models -> name -> {acc: {mean, std, values},
    fit_time_s: {mean, std, values}, params, ...}``; ``std`` is the sample
    standard deviation over seeds (0 for one seed).

    Args:
        wavelet_model: the wavelet network (registry name).
        baseline: its CNN (default: the ``twin`` of its model card).
        seeds: one training run per model and seed.
        epochs: training epochs of the networks (``None``: the config's).
        config: ``fit`` config giving data set, optimiser and trainer (``default``: ACSF1).
        fit_args: further ``fit`` options, e.g. ``["--data.root", DIR]``.
        run_root: root of the run directories (finished runs are re-used).
        out_dir: where ``compare.json`` and ``compare.md`` go.
        minirocket: include MiniRocket.
        n_kernels: MiniRocket's number of kernels (features are ~ this many).
        overwrite: retrain finished runs.
        progress_every: print a training line every this many epochs (``None``: quiet).
        log: where progress lines go.
        command: the command line, recorded in the JSON.
    """
    from wavelet_networks.models import card

    c = card(wavelet_model)
    if baseline is None:
        if not c.twin:
            raise ValueError(f"model {wavelet_model!r} has no parameter-matched twin in its "
                             "card; pass the baseline explicitly")
        baseline = c.twin
    card(baseline)
    if not seeds:
        raise ValueError("no seed given")
    t0 = time.perf_counter()
    machine = machine_info()  # before training: the thread count the runs are given
    rows: dict[str, list[dict[str, Any]]] = {wavelet_model: [], baseline: []}
    if minirocket:
        rows["minirocket"] = []
    dataset = None
    total = len(seeds) * len(rows)
    i = 0
    for seed in seeds:
        ckpt = None
        for name in (wavelet_model, baseline):
            i += 1
            log(f"[{i}/{total}] {name}, seed {seed}: training")
            res = train_or_reuse(name, seed, run_root, config, epochs, fit_args, overwrite,
                                 progress_every, log)
            acc = res["metrics"].get("test/acc")
            if acc is None:
                raise ValueError(f"{name} on {res['dataset']} reports no test accuracy "
                                 "(multi-label data?); compare needs a multi-class data set")
            rows[name].append({"seed": seed, "acc": float(acc), "params": res["params"],
                               "times_s": res["times_s"], "run_dir": res["run_dir"],
                               "epochs": res.get("epochs_trained")})
            log(f"    {name}, seed {seed}: test accuracy {acc:.4f}")
            dataset = res["dataset"]
            ckpt = ckpt or res["checkpoint"]
        if minirocket:
            i += 1
            log(f"[{i}/{total}] minirocket, seed {seed}: fitting on the same training split")
            dm, _ = data_module_from_checkpoint(ckpt)
            r = fit_minirocket(dm, seed, n_kernels)
            r["seed"] = seed
            rows["minirocket"].append(r)
            log(f"    minirocket, seed {seed}: test accuracy {r['acc']:.4f} "
                f"({r['times_s']['fit']:.1f} s)")
    models: dict[str, Any] = {}
    for name, runs in rows.items():
        accs = [r["acc"] for r in runs]
        fits = [r["times_s"]["fit"] for r in runs]
        entry = {
            "acc": {**_summary(accs), "values": accs},
            "fit_time_s": {**_summary(fits), "values": fits},
            "params": runs[0]["params"],
            "runs": runs,
        }
        if name == "minirocket":
            entry["family"] = "minirocket"
            entry["features"] = runs[0]["features"]
            entry["fitted_biases"] = runs[0]["fitted_biases"]
            entry["params_counted"] = "ridge classifier weights + intercepts (classes x features"
            entry["params_counted"] += " + classes); the transform's kernels are fixed"
        else:
            entry["family"] = card(name).family
            entry["params_counted"] = "trainable network parameters"
        models[name] = entry
    result = {
        "study": "compare",
        "dataset": dataset,
        "metric": "accuracy",
        "seeds": list(seeds),
        "epochs": epochs,
        "config": config,
        "fit_args": list(fit_args),
        "models": models,
        "protocol": (
            "networks: fit engine, best checkpoint by validation loss, fit time = training incl. "
            "per-epoch validation; minirocket: aeon MiniRocketClassifier (n_kernels="
            f"{n_kernels}) fitted on the same training split (no validation series), fit time "
            "= transform + scaler + RidgeClassifierCV"
        ),
        "wall_time_s": round(time.perf_counter() - t0, 1),
        "machine": machine,
    }
    if command:
        result["command"] = command
    if out_dir is not None:
        from wavelet_networks.training.run import write_json_atomic

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "compare.json", result)
        (out / "compare.md").write_text(format_compare_table(result, markdown=True) + "\n")
    return result


def format_compare_table(result: dict[str, Any], markdown: bool = False) -> str:
    """Model, family, parameters, test accuracy mean ± std, fit time mean ± std."""
    n = len(result["seeds"])
    header = ["model", "family", "params", "test accuracy", "fit time (s)"]
    rows = []
    for name, r in result["models"].items():
        params = f"{r['params']:,}"
        if name == "minirocket":
            params += f" (ridge; {r['features']:,} features)"
        rows.append([
            name, r["family"], params,
            _mean_std(r["acc"], ".3f"),
            _mean_std(r["fit_time_s"], ".1f"),
        ])
    spread = "mean ± sample std" if n > 1 else "one seed, no spread"
    caption = (f"{result['dataset']}: test accuracy and training time over {n} seed"
               f"{'s' if n > 1 else ''} ({', '.join(map(str, result['seeds']))}; {spread})")
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|---|---|---:|---:|---:|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines) + f"\n\n{caption}."
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(header, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return caption + "\n" + "\n".join(lines)


def _mean_std(summary: dict[str, Any], spec: str) -> str:
    """``mean ± std``, or the mean alone when there is no spread (one seed)."""
    if summary.get("std") is None:
        return format(summary["mean"], spec)
    return f"{format(summary['mean'], spec)} ± {format(summary['std'], spec)}"

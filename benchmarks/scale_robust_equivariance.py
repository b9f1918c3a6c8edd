"""Dilation error layer by layer, end to end: the zoo's wavelet nets against their robust variants.

For every layer of ``model.features`` the relative error at matching scales
(scale ``j`` of the input against scale ``j + 1`` of the input stretched by 2,
time subsampled by 2, a quarter of the output left out at each end), then at
the readout (``model.readout_features``; for the zoo's twins their own
invariant head before the last linear map) and at the logits, where
``||r(D x) - r(x)|| / ||r(x)||`` is compared with a between-series floor
``||r(x') - r(x)|| / ||r(x)||`` (``x'`` another input): features averaged
over scales and time vary little between noise inputs, so an error is small
only if it is small against that floor.

Inputs: periodic band-limited noise (``--cutoff`` times Nyquist; stretched
by 2 with :func:`wavelet_networks.testing.resample`, twice as long, nothing
cropped) with random weights (batch-norm statistics calibrated on noise
first), or the test series of a data set with trained weights (``--ckpt``;
the series band-limited to ``--cutoff`` before the stretch, so that both
inputs hold the same content).

Usage::

    python benchmarks/scale_robust_equivariance.py --models w-small-cnn w-small-cnn-robust
    python benchmarks/scale_robust_equivariance.py --models w-m11 w-m11-robust --length 22050
    python benchmarks/scale_robust_equivariance.py --ckpt runs/ucr/w-small-cnn-robust/.../best.ckpt
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import yaml
from torch import Tensor, nn

from wavelet_networks import testing as wn_testing
from wavelet_networks.models import build, card
from wavelet_networks.nn import LiftingStem
from wavelet_networks.testing import bandlimited_noise, resample


def _layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    out = []
    for i, layer in enumerate(model.features):
        parts = list(layer) if isinstance(layer, LiftingStem) else [layer]
        for k, part in enumerate(parts):
            out.append((f"{i}.{k}" if len(parts) > 1 else str(i), part))
    return out


def _readout(model: nn.Module, h: Tensor) -> Tensor:
    """Invariant features before the last linear map: the robust readout or the twin's own head."""
    if hasattr(model, "readout_features"):
        raise AssertionError("robust models read out through readout_features")
    if hasattr(model, "head_features"):  # w-small-cnn: mean over time, then its scale_pool
        return model.head_features(h)
    # W-M-nets: head conv on the time mean, then max over scales
    return model.scale_pool(model.head(h.mean(dim=-1, keepdim=True))).flatten(1)


def _relative(a: Tensor, b: Tensor) -> float:
    """``||a - b|| / ||b||``; 0 where both are zero (a scale that a ReLU silenced in both)."""
    diff, ref = (a - b).norm().item(), b.norm().item()
    return 0.0 if diff == 0 else diff / ref


def _matching(y: Tensor, y_d: Tensor) -> list[float]:
    """Per-scale error of ``y_d`` (stretched input) against ``y``: scale j + 1, time ::2."""
    n = y.shape[-1]
    m = n // 4
    y_d = y_d[..., ::2][..., m : n - m]
    y = y[..., m : n - m]
    return [_relative(y_d[:, :, j + 1], y[:, :, j]) for j in range(y.shape[2] - 1)]


@torch.no_grad()
def profile(model: nn.Module, x: Tensor, other: Tensor) -> dict:
    """Errors after every feature layer (per matching scale), at the readout and the logits."""
    model.eval()
    x_d = resample(x, 2)
    rows = []
    over = getattr(model, "oversample", 1)  # the robust models' features see the resampled input
    h, h_d = (x, x_d) if over == 1 else (resample(x, over), resample(x_d, over))
    for name, layer in _layers(model):
        h, h_d = layer(h), layer(h_d)
        if h.dim() == 4 and h.shape[2] > 1:
            errs = _matching(h, h_d)
            rows.append({"layer": f"{name}: {type(layer).__name__}", "scales": h.shape[2],
                         "per_scale": errs, "max": max(errs)})
    # The readout at matching scales: time means of the last feature maps (the scales the
    # readout reads), scale j of x against scale j + 1 of D x; the spread between the series
    # of the batch as its floor.
    skip = getattr(model, "skip_finest", 0)  # scales the robust readout leaves out
    m, m_d = h[:, :, skip:].mean(dim=-1), h_d[:, :, skip:].mean(dim=-1)
    spread = m - m.mean(dim=0, keepdim=True)
    at_scales = [_relative(m_d[:, :, j + 1], m[:, :, j]) for j in range(m.shape[2] - 1)]
    vs_spread = [((m_d[:, :, j + 1] - m[:, :, j]).norm() / spread[:, :, j].norm()).item()
                 for j in range(m.shape[2] - 1)]
    robust = hasattr(model, "readout_features")
    if robust:
        r, r_d, r_o = (model.readout_features(v) for v in (x, x_d, other))
    else:
        r, r_d, r_o = (_readout(model, model.features(v)) for v in (x, x_d, other))
    z, z_d, z_o = model(x), model(x_d), model(other)
    return {
        "layers": rows,
        "readout_at_scales": at_scales,
        "readout_at_scales_vs_spread": vs_spread,
        "readout": {"error": _relative(r_d, r), "floor": _relative(r_o, r)},
        "logits": {"error": _relative(z_d, z), "floor": _relative(z_o, z)},
        "prediction_kept": (z_d.argmax(-1) == z.argmax(-1)).float().mean().item(),
    }


def calibrate_batch_norm(model: nn.Module, length: int, cutoff: float, batches: int) -> None:
    """Batch-norm running statistics: the cumulative average over noise batches of 4."""
    wn_testing.calibrate_batch_norm(model, (4, 1, length), batches, cutoff,
                                    torch.Generator().manual_seed(12345))


def _bandlimit(x: Tensor, cutoff: float) -> Tensor:
    spec = torch.fft.rfft(x.double(), dim=-1)
    spec[..., int(cutoff * (spec.shape[-1] - 1)) + 1 :] = 0
    y = torch.fft.irfft(spec, n=x.shape[-1], dim=-1)
    return (y / y.std(dim=-1, keepdim=True)).float()


def measure_random(name: str, length: int, cutoff: float, batch: int, seeds: int,
                   overrides: dict) -> dict:
    runs = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        model = build(name, int(card(name).extra.get("num_classes", 10)), **overrides)
        calibrate_batch_norm(model, length, cutoff, 2)
        g = torch.Generator().manual_seed(1000 + seed)
        x = bandlimited_noise((batch, 1, length), cutoff, g, dtype=torch.float32)
        other = bandlimited_noise((batch, 1, length), cutoff, g, dtype=torch.float32)
        runs.append(profile(model, x, other))
    options = "".join(f", {k}={v}" for k, v in overrides.items())
    return _summary(name + options, runs, f"random weights, band-limited noise ({cutoff} "
                    f"Nyquist), {length} samples, batch {batch}, {seeds} seeds")


def measure_trained(ckpt: str, cutoff: float, batch: int) -> dict:
    from wavelet_networks.studies.common import data_module_from_checkpoint, iter_split
    from wavelet_networks.training import WaveformClassifier

    module = WaveformClassifier.load_from_checkpoint(ckpt, map_location="cpu")
    dm, info = data_module_from_checkpoint(ckpt)
    x = torch.cat([b for b, _ in iter_split(dm, "test")])[: 2 * batch]
    x = _bandlimit(x, cutoff)
    run = profile(module.model, x[:batch], x[batch:])
    name = module.hparams.model_name
    return _summary(name, [run], f"trained weights ({ckpt}), {batch} test series of "
                    f"{info.get('dataset')} band-limited to {cutoff} Nyquist")


def _summary(name: str, runs: list[dict], what: str) -> dict:
    med = statistics.median
    layers = []
    for i, row in enumerate(runs[0]["layers"]):
        maxima = [r["layers"][i]["max"] for r in runs]
        layers.append({"layer": row["layer"], "scales": row["scales"],
                       "max_over_scales": statistics.median(maxima),
                       "finest": statistics.median(r["layers"][i]["per_scale"][0] for r in runs),
                       "coarsest": statistics.median(r["layers"][i]["per_scale"][-1]
                                                     for r in runs)})
    def per_scale(key: str) -> list[float]:
        return [med(v) for v in zip(*(r[key] for r in runs), strict=True)]

    return {
        "model": name, "inputs": what, "layers": layers,
        "readout_at_scales": per_scale("readout_at_scales"),
        "readout_at_scales_vs_spread": per_scale("readout_at_scales_vs_spread"),
        "readout_error": med(r["readout"]["error"] for r in runs),
        "readout_floor": med(r["readout"]["floor"] for r in runs),
        "logits_error": med(r["logits"]["error"] for r in runs),
        "logits_floor": med(r["logits"]["floor"] for r in runs),
        "prediction_kept": med(r["prediction_kept"] for r in runs),
    }


def to_markdown(results: list[dict]) -> str:
    lines = []
    for res in results:
        lines += [f"**{res['model']}** ({res['inputs']})", "",
                  "| layer | scales | error at the finest matching scale | coarsest | worst |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| {r['layer']} | {r['scales']} | {r['finest']:.3f} | {r['coarsest']:.3f} | "
                  f"{r['max_over_scales']:.3f} |" for r in res["layers"]]
        at, vs = res["readout_at_scales"], res["readout_at_scales_vs_spread"]
        lines += [f"| readout per scale (time means) | {len(at) + 1} | {at[0]:.3f} "
                  f"({vs[0]:.2f} of the spread) | {at[-1]:.3f} ({vs[-1]:.2f}) | "
                  f"{max(at):.3f} ({max(vs):.2f}) |",
                  f"| readout, pooled over scales | | {res['readout_error']:.3f} "
                  f"(floor {res['readout_floor']:.3f}) | | |",
                  f"| logits | | {res['logits_error']:.3f} (floor {res['logits_floor']:.3f}) "
                  f"| | |", "",
                  f"Prediction unchanged by the dilation: {res['prediction_kept']:.2f} of the "
                  "inputs.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="*", default=["w-small-cnn", "w-small-cnn-robust"])
    p.add_argument("--length", type=int, default=None,
                   help="input samples (default: the model card's input length)")
    p.add_argument("--cutoff", type=float, default=0.25, help="band limit, fraction of Nyquist")
    p.add_argument("--batch", type=int, default=8, help="inputs per measurement")
    p.add_argument("--seeds", type=int, default=3, help="random initialisations per model")
    p.add_argument("--channels", type=int, default=None,
                   help="base width override for the W-M-nets (default: the zoo's)")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="architecture option of the models, e.g. oversample=2 (YAML value)")
    p.add_argument("--ckpt", action="append", default=[], help="trained checkpoint(s) instead")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    results = []
    if args.ckpt:
        for ckpt in args.ckpt:
            results.append(measure_trained(ckpt, args.cutoff, args.batch))
    else:
        for name in args.models:
            length = args.length or card(name).input_length
            overrides = {"channels": args.channels} if args.channels else {}
            for item in args.override:
                key, _, value = item.partition("=")
                overrides[key] = yaml.safe_load(value)
            results.append(measure_random(name, length, args.cutoff, args.batch, args.seeds,
                                          overrides))
            print(f"{name}: readout {results[-1]['readout_error']:.4f} "
                  f"(floor {results[-1]['readout_floor']:.4f})", flush=True)
    table = to_markdown(results)
    print(table)
    wall = time.perf_counter() - start
    print(f"wall time {wall:.0f} s, {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.json:
        out = {"command": "python benchmarks/scale_robust_equivariance.py "
               + " ".join(argv if argv is not None else sys.argv[1:]),
               "wall_seconds": round(wall, 1), "results": results, "markdown": table,
               "machine": {"platform": platform.platform(), "torch": torch.__version__,
                           "threads": torch.get_num_threads()}}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

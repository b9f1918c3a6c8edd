"""``wavelet-networks plot kernels|scalogram|curves``: figures of a trained model as PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from wavelet_networks.cli import ArgumentParser, CLIError

__all__ = ["plot_command", "prepare_input"]

DESCRIPTION = """\
Draw a figure of a checkpoint of `wavelet-networks fit` and save it as a PNG:

  kernels    the learned lifting kernels at every scale: time response and
             magnitude response in dB (Hz when the data's sample rate is known,
             else cycles/sample), one row per kernel (wavelet networks only)
  scalogram  the lifting layer's output for --input (.npy, wav, flac, ogg, mp3)
             as scale (or equivalent frequency) against time, with the training
             preprocessing applied (mono, resampling, normalisation)
  curves     loss and accuracy per epoch from the run's logs/metrics.csv
"""

EXAMPLE = (
    "wavelet-networks plot kernels --ckpt runs/acsf1/w-small-cnn/fold-none/seed-0/"
    "checkpoints/best.ckpt --out kernels.png\n"
    "  wavelet-networks plot scalogram --ckpt best.ckpt --input series.npy --out scalogram.png\n"
    "  wavelet-networks plot curves --ckpt best.ckpt"
)

WHATS = ("kernels", "scalogram", "curves")


def prepare_input(x: np.ndarray, sr: float | None, info: dict[str, Any], in_channels: int):
    """``(array (channels, time), sample rate)`` preprocessed as the training data is.

    Mixes to mono for one-channel models, resamples audio to the training sample
    rate and applies the data set's per-series normalisation (if it has one).
    """
    if x.shape[0] != in_channels:
        if in_channels != 1:
            raise CLIError(f"the model expects {in_channels} channels, the input has "
                           f"{x.shape[0]}")
        x = x.mean(axis=0, keepdims=True)
    target = info.get("sample_rate")
    if sr is not None and target and abs(sr - target) > 1e-6:
        import soxr

        x = np.ascontiguousarray(soxr.resample(x.T, sr, target).T, dtype=np.float32)
        sr = float(target)
    elif sr is None and target:
        sr = float(target)
    if info.get("normalization") == "per-series":
        from wavelet_networks.data.acsf1 import standardize_per_series

        x = standardize_per_series(x)
    return x.astype(np.float32), sr


def plot_command(args: list[str]) -> int:
    """``wavelet-networks plot WHAT --ckpt PATH [--input FILE] [--out PNG]``."""
    p = ArgumentParser("plot", DESCRIPTION, EXAMPLE)
    p.add_argument("what", choices=WHATS, help="kernels, scalogram or curves")
    p.add_argument("--ckpt", "--pretrained", required=True, dest="ckpt",
                   help="checkpoint file (.ckpt) written by `wavelet-networks fit`")
    p.add_argument("--input", help="scalogram: the series to transform (.npy or audio file)")
    p.add_argument("--out", help="PNG file to write (default: WHAT.png in the current folder)")
    p.add_argument("--sample_rate", type=float, default=None,
                   help="sample rate in Hz for the axes (default: the data set's, if known)")
    p.add_argument("--channels", default=None,
                   help="kernels: output channels to draw, e.g. '0-7' or '0,3,5' (default: 0-7)")
    p.add_argument("--channel", type=int, default=None,
                   help="scalogram: one output channel instead of the RMS over channels")
    p.add_argument("--yaxis", choices=("scale", "frequency"), default="scale",
                   help="scalogram: vertical axis (default: scale)")
    p.add_argument("--linear", action="store_true",
                   help="scalogram: linear colour scale (default: dB relative to the maximum)")
    ns = p.parse_args(args)
    out = Path(ns.out) if ns.out else Path(f"{ns.what}.png")
    if out.suffix.lower() != ".png":
        raise CLIError(f"--out {str(out)!r}: figures are written as PNG; give a .png file name")
    if ns.what == "curves":
        path = _curves(ns.ckpt, out)
    else:
        path = _model_plot(ns, out)
    print(f"wrote {path}")
    return 0


def _parse_channels(spec: str | None) -> list[int] | None:
    if spec is None:
        return None
    chans: list[int] = []
    try:
        for part in spec.split(","):
            a, sep, b = part.strip().partition("-")
            chans += list(range(int(a), int(b) + 1)) if sep else [int(a)]
    except ValueError:
        raise CLIError(f"--channels {spec!r}: expected e.g. '0-7' or '0,3,5'") from None
    return chans


def _curves(ckpt: str, out: Path) -> Path:
    from wavelet_networks import plots

    p = Path(ckpt).expanduser()
    if not p.is_file():
        raise CLIError(f"checkpoint {str(p)!r} does not exist; pass the .ckpt file of a "
                       "`wavelet-networks fit` run (run_dir/checkpoints/best.ckpt)")
    run_dir = p.resolve().parent.parent
    try:
        series = plots.read_metrics(run_dir / "logs")
    except FileNotFoundError:
        raise CLIError(f"no training log next to {str(p)!r} (expected "
                       f"{str(run_dir / 'logs' / 'metrics.csv')!r}): the checkpoint must lie in "
                       "the checkpoints/ folder of its run directory") from None
    if not series:
        raise CLIError(f"{str(run_dir / 'logs')!r} holds no per-epoch metrics yet")
    # <run_root>/<dataset>/<model>/fold-<fold>/seed-<seed>
    model, dataset = run_dir.parents[1].name, run_dir.parents[2].name
    title = f"{model} on {dataset} ({run_dir.parent.name}, {run_dir.name})"
    plots.plot_training_curve(series, out=out, title=title)
    return out


def _model_plot(ns, out: Path) -> Path:
    from wavelet_networks import plots
    from wavelet_networks.cli.evaluate import load_checkpoint, load_series

    if ns.what == "scalogram" and not ns.input:
        raise CLIError("plot scalogram needs --input FILE (.npy array or audio file)")
    model, info = load_checkpoint(ns.ckpt)
    name = model.hparams.model_name
    try:
        plots.find_lifting_layer(model)
    except ValueError:
        twin = _twin(name)
        hint = f"; its wavelet twin is {twin!r}" if twin else ""
        raise CLIError(f"model {name!r} of {str(ns.ckpt)!r} has no lifting layer "
                       f"(LiftingConv1d), so it has no {ns.what} to plot{hint}") from None
    if ns.what == "kernels":
        sr = ns.sample_rate or info.get("sample_rate")
        try:
            plots.plot_kernels(model, sample_rate=sr, channels=_parse_channels(ns.channels),
                               out=out, title=f"lifting kernels of {name}")
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        return out
    x, sr = load_series(ns.input)
    x, sr = prepare_input(x, sr, info, model.hparams.in_channels)
    sr = ns.sample_rate or sr
    try:
        plots.plot_scalogram(model, x, sample_rate=sr, channel=ns.channel, yaxis=ns.yaxis,
                             db=not ns.linear, out=out, title=f"{name}: lifting layer output for "
                             f"{Path(ns.input).name}")
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    return out


def _twin(name: str) -> str | None:
    from wavelet_networks.models import card

    try:
        c = card(name)
    except ValueError:
        return None
    return c.twin if c.family != "wavelet" else None

"""Plots of what a wavelet network learned, and of training runs (needs the ``plot`` extra).

Every function builds a :class:`matplotlib.figure.Figure` without pyplot (so
no GUI backend is touched), labels every axis with its unit, optionally saves
it as a PNG (Agg) and returns it. Nothing here imports Lightning: after
``pip install "wavelet-networks[plot]"`` these work on any ``torch.nn.Module``
that contains a :class:`~wavelet_networks.nn.LiftingConv1d`.

>>> import wavelet_networks as wn
>>> from wavelet_networks import plots
>>> net = wn.nn.LiftingConv1d(1, 4, kernel_size=9, num_scales=4)
>>> fig = plots.plot_kernels(net)                        # doctest: +SKIP
>>> fig = plots.plot_scalogram(net, x, sample_rate=16000, out="scalogram.png")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from wavelet_networks import functional as WF
from wavelet_networks.nn.conv import LiftingConv1d

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "equivalent_frequencies",
    "find_lifting_layer",
    "kernel_responses",
    "lifting_output",
    "plot_kernels",
    "plot_scale_study",
    "plot_scalogram",
    "plot_training_curve",
    "read_metrics",
    "save_figure",
]


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig, out: str | Path, dpi: int = 110) -> Path:
    """Save ``fig`` as a PNG (Agg) at ``out``, creating parent folders; returns the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, format="png")
    return out


# ------------------------------------------------------------------------- lifting layer
def find_lifting_layer(model: nn.Module) -> LiftingConv1d:
    """The first :class:`LiftingConv1d` inside ``model`` (or ``model`` itself).

    Raises:
        ValueError: when the model has none (e.g. a plain CNN baseline).
    """
    for module in model.modules():
        if isinstance(module, LiftingConv1d):
            return module
    raise ValueError(
        f"the model ({type(model).__name__}) has no lifting layer (LiftingConv1d); kernels and "
        "scalograms exist only for wavelet networks, e.g. the w-* models"
    )


def kernel_responses(
    layer: LiftingConv1d, in_channel: int = 0, n_fft: int | None = None
) -> list[dict[str, np.ndarray | float]]:
    r"""Sampled kernels :math:`\psi_{s_j}` and their frequency responses, one dict per scale.

    Keys: ``scale``; ``lags`` (integer taps ``-left .. right``); ``kernels``
    ``(out_channels, taps)``; ``freqs`` (cycles/sample, ``0 .. 0.5``) and
    ``magnitude`` ``(out_channels, len(freqs))`` (linear ``|H(f)|``). The
    kernel is applied as a cross-correlation, ``y(t) = sum_tau x(tau) psi(tau - t)``.

    Args:
        layer: the lifting layer.
        in_channel: which input channel's kernels to return.
        n_fft: FFT length (default: a power of two >= 4x the longest kernel, >= 1024).
    """
    if not 0 <= in_channel < layer.in_channels:
        raise ValueError(f"in_channel must be in 0..{layer.in_channels - 1}, got {in_channel}")
    w = layer.weight.detach().to("cpu", torch.float64)[:, in_channel : in_channel + 1]
    kernels = []
    for s in layer.scales:
        k = WF.spline_kernel(w, s, layer.spline_order)[:, 0]
        left, _ = WF.kernel_extent(layer.kernel_size, s, layer.spline_order)
        kernels.append((s, np.arange(-left, -left + k.shape[-1]), k.numpy()))
    longest = max(k.shape[-1] for _, _, k in kernels)
    if n_fft is None:
        n_fft = max(1024, 1 << math.ceil(math.log2(4 * longest)))
    out = []
    for s, lags, k in kernels:
        # |H| of a cross-correlation kernel equals that of the convolution kernel.
        mag = np.abs(np.fft.rfft(k, n=n_fft, axis=-1))
        out.append({"scale": s, "lags": lags, "kernels": k,
                    "freqs": np.fft.rfftfreq(n_fft), "magnitude": mag})
    return out


def equivalent_frequencies(layer: LiftingConv1d) -> np.ndarray:
    """Spectral centroid (cycles/sample) of the layer's kernels at every scale.

    The magnitude responses of all kernels (all output and input channels) at a
    scale are averaged and their centroid taken: the frequency a scale listens
    to "on average". It halves from one dyadic scale to the next.
    """
    cents = []
    for i in range(layer.in_channels):
        resp = kernel_responses(layer, i)
        cents.append([
            float((r["freqs"] * r["magnitude"].mean(0)).sum() / max(r["magnitude"].mean(0).sum(),
                                                                    1e-300))
            for r in resp
        ])
    return np.mean(np.array(cents), axis=0)


def _freq_label(sample_rate: float | None) -> str:
    return "frequency (Hz)" if sample_rate else "frequency (cycles/sample)"


def _scale_colours(n: int):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(0.9 * j / max(n - 1, 1)) for j in range(n)]


def plot_kernels(
    model: nn.Module,
    sample_rate: float | None = None,
    channels: Sequence[int] | None = None,
    max_channels: int = 8,
    in_channel: int = 0,
    out: str | Path | None = None,
    title: str | None = None,
) -> Figure:
    """The learned lifting kernels at every scale: time and frequency responses.

    One row of two panels per kernel (output channel): left, the sampled
    kernel :math:`\\psi_{s_j}` against the time lag; right, its magnitude
    response in dB against frequency (Hz when ``sample_rate`` is known, else
    cycles/sample, log axis). Every scale of the grid is one coloured line.

    Args:
        model: a lifting layer or any model containing one.
        sample_rate: sample rate in Hz of the model's input (``None``: unknown).
        channels: output channels to draw (default: the first ``max_channels``).
        max_channels: cap on the number of rows when ``channels`` is not given.
        in_channel: input channel whose kernels are drawn (multi-channel inputs).
        out: PNG path to save to (optional).
        title: figure title.

    Returns:
        The matplotlib ``Figure``.
    """
    layer = find_lifting_layer(model)
    chans = list(range(min(layer.out_channels, max_channels))) if channels is None else [
        int(c) for c in channels
    ]
    if not chans:
        raise ValueError("no channel to draw")
    bad = [c for c in chans if not 0 <= c < layer.out_channels]
    if bad:
        raise ValueError(f"channels {bad} out of range 0..{layer.out_channels - 1}")
    resp = kernel_responses(layer, in_channel)
    colours = _scale_colours(len(resp))
    fig = _figure(11, 1.9 * len(chans) + 1.0)
    axes = fig.subplots(len(chans), 2, squeeze=False)
    sr = float(sample_rate) if sample_rate else None
    for row, c in enumerate(chans):
        ax_t, ax_f = axes[row]
        for r, colour in zip(resp, colours, strict=True):
            lags = r["lags"] * (1000.0 / sr) if sr else r["lags"]
            ax_t.plot(lags, r["kernels"][c], color=colour, lw=1.2, label=f"s = {r['scale']:g}")
            f = r["freqs"][1:] * (sr if sr else 1.0)
            db = 20 * np.log10(np.maximum(r["magnitude"][c, 1:], 1e-12))
            ax_f.plot(f, db, color=colour, lw=1.2)
        ax_t.axhline(0, color="0.6", lw=0.6)
        ax_t.set_xlabel("time lag (ms)" if sr else "time lag (samples)")
        ax_t.set_ylabel("amplitude (a.u.)")
        ax_f.set_xscale("log")
        ax_f.set_xlabel(_freq_label(sr))
        ax_f.set_ylabel("magnitude (dB)")
        peak = max(20 * np.log10(max(r["magnitude"][c].max(), 1e-12)) for r in resp)
        ax_f.set_ylim(peak - 60, peak + 5)
        suffix = f", input channel {in_channel}" if layer.in_channels > 1 else ""
        ax_t.set_title(f"kernel {c}{suffix}: time response", fontsize=9)
        ax_f.set_title(f"kernel {c}{suffix}: frequency response", fontsize=9)
        for ax in (ax_t, ax_f):
            ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 9),
               title="scale s_j (kernel dilated by s_j)", fontsize=8, title_fontsize=8)
    if title:
        fig.suptitle(title)
    if out is not None:
        save_figure(fig, out)
    return fig


class _Stop(Exception):
    pass


def lifting_output(model: nn.Module, x: Tensor | np.ndarray) -> Tensor:
    """The lifting layer's output for ``x``: ``(batch, channels, scales, time')``.

    ``model`` is run on ``x`` until its first :class:`LiftingConv1d` has
    produced its output (so any layer before it is applied too); the rest of
    the model is not computed.

    Args:
        model: a lifting layer or a model containing one.
        x: ``(time,)``, ``(channels, time)`` or ``(batch, channels, time)``.
    """
    layer = find_lifting_layer(model)
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x)
    while x.dim() < 3:
        x = x.unsqueeze(0)
    p = next(layer.parameters())
    x = x.to(p.device, p.dtype)
    captured: list[Tensor] = []

    def hook(_module, _inp, output):
        captured.append(output.detach())
        raise _Stop

    handle = layer.register_forward_hook(hook)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    except _Stop:
        pass
    finally:
        handle.remove()
        model.train(was_training)
    if not captured:
        raise ValueError("the model's forward pass did not reach its lifting layer")
    return captured[0].cpu()


def plot_scalogram(
    model: nn.Module,
    x: Tensor | np.ndarray,
    sample_rate: float | None = None,
    channel: int | None = None,
    yaxis: str = "scale",
    db: bool = True,
    out: str | Path | None = None,
    title: str | None = None,
):
    """The lifting layer's output for one input series as a scalogram.

    Top: the input against time. Bottom: the response at every scale
    (root mean square over the output channels, or one ``channel``) against
    time (seconds when ``sample_rate`` is known, else samples), with a
    labelled colour bar. The vertical axis is the scale ``s_j`` or, with
    ``yaxis="frequency"``, its equivalent frequency (spectral centroid of the
    kernels at that scale, see :func:`equivalent_frequencies`).

    Args:
        model: a lifting layer or a model containing one.
        x: one series ``(time,)`` or ``(channels, time)``.
        sample_rate: sample rate of ``x`` in Hz (``None``: unknown).
        channel: one output channel to show instead of the RMS over channels.
        yaxis: ``"scale"`` or ``"frequency"``.
        db: colour in dB relative to the largest magnitude (floor -60 dB), which
            shows weak scales; ``False``: the linear response.
        out: PNG path to save to (optional).
        title: figure title.
    """
    if yaxis not in ("scale", "frequency"):
        raise ValueError(f"yaxis must be 'scale' or 'frequency', got {yaxis!r}")
    layer = find_lifting_layer(model)
    xt = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x).detach().cpu()
    if xt.dim() == 1:
        xt = xt[None]
    if xt.dim() != 2:
        raise ValueError(f"expected one series (time,) or (channels, time), got {tuple(xt.shape)}")
    y = lifting_output(model, xt)[0]  # (C, S, T')
    if channel is None:
        z = y.pow(2).mean(0).sqrt()
        what = f"RMS response over {y.shape[0]} channels (a.u.)"
    else:
        if not 0 <= channel < y.shape[0]:
            raise ValueError(f"channel must be in 0..{y.shape[0] - 1}, got {channel}")
        z = y[channel]
        what = f"response of channel {channel} (a.u.)"
    z = z.numpy()
    if db:
        mag = np.abs(z)
        z = 20 * np.log10(np.maximum(mag / max(mag.max(), 1e-300), 1e-3))
        what = what.replace("(a.u.)", "(dB re max)")
    sr = float(sample_rate) if sample_rate else None
    n_in = xt.shape[-1]
    step = n_in / z.shape[-1]
    t_in = np.arange(n_in) / (sr or 1.0)
    t_out = np.arange(z.shape[-1]) * step / (sr or 1.0)
    time_label = "time (s)" if sr else "time (samples)"
    if yaxis == "scale":
        yvals = np.array(list(layer.scales))
        ylabel = "scale s_j (kernel dilation)"
    else:
        yvals = equivalent_frequencies(layer) * (sr or 1.0)
        ylabel = "equivalent " + _freq_label(sr)
    fig = _figure(10, 6)
    ax_x, ax_s = fig.subplots(2, 1, sharex=True, height_ratios=[1, 2.4])
    for c in range(xt.shape[0]):
        ax_x.plot(t_in, xt[c].numpy(), lw=0.7, label=f"channel {c}" if xt.shape[0] > 1 else None)
    ax_x.set_ylabel("input amplitude (a.u.)")
    ax_x.set_xlabel(time_label)
    ax_x.grid(alpha=0.3)
    if xt.shape[0] > 1:
        ax_x.legend(fontsize=8)
    order = np.argsort(yvals)
    ys = yvals[order]
    # Cell edges half a grid step apart on the log axis; time edges half a sample apart.
    ratio = ys[1] / ys[0] if len(ys) > 1 else 2.0
    mids = np.sqrt(ys[1:] * ys[:-1])
    y_edges = np.concatenate([[ys[0] / np.sqrt(ratio)], mids, [ys[-1] * np.sqrt(ratio)]])
    dt = t_out[1] - t_out[0] if len(t_out) > 1 else step / (sr or 1.0)
    t_edges = np.concatenate([t_out - dt / 2, [t_out[-1] + dt / 2]])
    mesh = ax_s.pcolormesh(t_edges, y_edges, z[order], shading="flat", cmap="magma")
    ax_s.set_yscale("log", base=2 if yaxis == "scale" else 10)
    if yaxis == "scale":
        ax_s.set_yticks(yvals, [f"{v:g}" for v in yvals])
    ax_s.set_ylabel(ylabel)
    ax_s.set_xlabel(time_label)
    cbar = fig.colorbar(mesh, ax=ax_s)
    cbar.set_label(what)
    fig.suptitle(title or "lifting layer output (scalogram)")
    if out is not None:
        save_figure(fig, out)
    return fig


# ------------------------------------------------------------------------- training runs
def read_metrics(path: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Per-epoch values ``{metric: [(epoch, value), ...]}`` from Lightning CSV logs.

    ``path``: a ``metrics.csv``, a ``logs`` folder, or a run directory (its
    ``logs/`` is used). In a folder the parts left by resumed runs
    (``metrics-part000.csv``, ...) are read before ``metrics.csv``.
    """
    path = Path(path)
    if path.is_dir() and (path / "logs").is_dir():
        path = path / "logs"
    if path.is_dir():
        files = [*sorted(path.glob("metrics-part*.csv")), path / "metrics.csv"]
    else:
        files = [path]
    files = [f for f in files if f.is_file()]
    if not files:
        raise FileNotFoundError(f"no metrics.csv found at {str(path)!r}")
    series: dict[str, dict[int, float]] = {}
    for file in files:
        with file.open(newline="") as f:
            for row in csv.DictReader(f):
                epoch = row.get("epoch")
                if epoch in ("", None):
                    continue
                for key, value in row.items():
                    if key in ("epoch", "step") or value in ("", None):
                        continue
                    try:
                        v = float(value)
                    except ValueError:
                        continue
                    if math.isfinite(v):
                        series.setdefault(key, {})[int(float(epoch))] = v
    return {k: sorted(v.items()) for k, v in series.items()}


def plot_training_curve(
    metrics: str | Path | Mapping[str, Sequence[tuple[int, float]]],
    out: str | Path | None = None,
    title: str | None = None,
    allow_empty: bool = False,
):
    """Loss (left) and accuracy or AUC (right) per epoch.

    Args:
        metrics: a run directory, a ``logs`` folder or ``metrics.csv`` of a
            ``wavelet-networks fit`` run, or a mapping ``{"train/loss": [(epoch,
            value), ...], "val/acc": ..., ...}`` (e.g. from your own loop).
        out: PNG path to save to (optional).
        title: figure title.
        allow_empty: without any loss or score series, draw a note instead of
            raising ``ValueError`` (the end of a fit that stopped early).
    """
    series = dict(metrics) if isinstance(metrics, Mapping) else read_metrics(metrics)
    # Per-epoch series only: the test metrics are one point logged after training.
    keys = [k for k in series if not k.startswith("test/")]
    loss_keys = [k for k in keys if k.endswith("loss") and "wavelet" not in k]
    score_keys = [k for k in keys if k.rsplit("/", 1)[-1] in ("acc", "roc_auc", "pr_auc")]
    if not loss_keys and not score_keys:
        if not allow_empty:
            raise ValueError(f"no loss or accuracy series among {sorted(series)}")
        fig = _figure(11, 4)
        fig.text(0.5, 0.5, "no per-epoch loss or score was logged", ha="center", va="center")
        if title:
            fig.suptitle(title)
        if out is not None:
            save_figure(fig, out)
        return fig
    from matplotlib.ticker import MaxNLocator

    fig = _figure(11, 4)
    ax_loss, ax_score = fig.subplots(1, 2)
    for ax, keys in ((ax_loss, loss_keys), (ax_score, score_keys)):
        for key in sorted(keys):
            e, v = zip(*series[key], strict=True)
            ax.plot(e, v, marker="." if len(e) < 30 else None, label=key)
        if keys:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch (passes over the training set)")
    ax_loss.set_ylabel("loss (cross-entropy, nats)")
    auc = any(k.endswith("auc") for k in score_keys)
    ax_score.set_ylabel("score (fraction: accuracy or AUC)" if auc else
                        "accuracy (fraction correct)")
    ax_loss.set_title("loss", fontsize=10)
    ax_score.set_title("accuracy / AUC" if auc else "accuracy", fontsize=10)
    if title:
        fig.suptitle(title)
    if out is not None:
        save_figure(fig, out)
    return fig


def plot_scale_study(
    result: Mapping, out: str | Path | None = None, title: str | None = None
):
    """Accuracy against the test-set resampling factor (log axis), one line per model.

    ``result`` is the JSON object of ``wavelet-networks scale-study``
    (:func:`wavelet_networks.studies.scale.run_scale_study`; ``mean`` and
    ``std`` keyed by the factor formatted with ``%g``): error bars are the
    standard deviation over seeds when there are several.
    """
    factors = [float(f) for f in result["factors"]]
    metric = result.get("metric", "accuracy")
    fig = _figure(7, 4.5)
    ax = fig.subplots()
    markers = "osD^v<>"
    for i, (name, r) in enumerate(result["models"].items()):
        mean = [r["mean"][f"{f:g}"] for f in factors]
        std = [r["std"].get(f"{f:g}", 0.0) for f in factors]
        ax.errorbar(factors, mean, yerr=std if any(std) else None, marker=markers[i % 7],
                    capsize=3, label=f"{name} ({r['params']:,} params)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(factors, [f"{f:g}" for f in factors])
    ax.minorticks_off()
    ax.axvline(1.0, color="0.6", lw=0.8, ls="--")
    ax.set_xlabel("test-set resampling factor (>1: stretched, <1: compressed; log scale)")
    ax.set_ylabel("test accuracy (fraction correct)" if metric == "accuracy"
                  else f"test {metric} (fraction)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    n = len(result.get("seeds", [])) or 1
    how = " at the new length" if result.get("length") == "resampled" else ""
    ax.set_title(title or f"{result.get('dataset', '')}: trained at factor 1, tested resampled"
                 f"{how} ({n} seed{'s' if n > 1 else ''}; bars: std)", fontsize=10)
    if out is not None:
        save_figure(fig, out)
    return fig

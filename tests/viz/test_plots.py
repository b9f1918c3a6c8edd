"""wavelet_networks.plots: what the figures show, their axis labels, the PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import wavelet_networks as wn
from wavelet_networks import functional as WF
from wavelet_networks import plots

PNG = b"\x89PNG\r\n\x1a\n"


def _net(channels: int = 3, scales: int = 4) -> nn.Module:
    return nn.Sequential(
        wn.nn.LiftingConv1d(1, channels, kernel_size=9, num_scales=scales),
        wn.nn.GroupBatchNorm(channels), nn.ReLU(), wn.nn.GlobalPool(), nn.Linear(channels, 2),
    )


def _labels(ax) -> tuple[str, str]:
    return ax.get_xlabel(), ax.get_ylabel()


def test_plots_module_does_not_import_lightning() -> None:
    import subprocess
    import sys

    code = ("import sys, wavelet_networks.plots; "
            "print(any(m.split('.')[0] in ('lightning', 'pytorch_lightning') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_kernel_responses_are_the_sampled_spline_kernels() -> None:
    layer = wn.nn.LiftingConv1d(2, 3, kernel_size=7, num_scales=3)
    resp = plots.kernel_responses(layer, in_channel=1)
    assert [r["scale"] for r in resp] == [1.0, 2.0, 4.0]
    for r in resp:
        expected = WF.spline_kernel(layer.weight.detach().double(), r["scale"], 2)[:, 1]
        np.testing.assert_allclose(r["kernels"], expected.numpy())
        left, right = WF.kernel_extent(7, r["scale"], 2)
        assert r["lags"][0] == -left and r["lags"][-1] == right
        # Parseval: the FFT magnitude at 0 is the kernel's sum (DC gain).
        np.testing.assert_allclose(r["magnitude"][:, 0], np.abs(r["kernels"].sum(-1)), atol=1e-12)
    with pytest.raises(ValueError, match="in_channel"):
        plots.kernel_responses(layer, in_channel=2)


def test_equivalent_frequency_halves_per_dyadic_scale() -> None:
    torch.manual_seed(1)
    layer = wn.nn.LiftingConv1d(1, 16, kernel_size=9, num_scales=5)
    f = plots.equivalent_frequencies(layer)
    ratios = f[1:] / f[:-1]
    # Scale 1 is band-limited by the sampling grid itself; from scale 2 on the octave law holds.
    np.testing.assert_allclose(ratios[1:], 0.5, rtol=0.1)
    assert np.all(ratios < 1)


def test_plot_kernels_rows_labels_and_png(tmp_path: Path) -> None:
    net = _net(channels=3)
    out = tmp_path / "sub" / "k.png"
    fig = plots.plot_kernels(net, out=out)
    assert out.read_bytes()[:8] == PNG
    axes = fig.axes
    assert len(axes) == 6  # 3 kernels x (time, frequency)
    for ax_t, ax_f in zip(axes[0::2], axes[1::2], strict=True):
        assert _labels(ax_t) == ("time lag (samples)", "amplitude (a.u.)")
        assert _labels(ax_f) == ("frequency (cycles/sample)", "magnitude (dB)")
        assert ax_f.get_xscale() == "log"
        assert len(ax_t.lines) == 4 + 1  # 4 scales + the zero line
    fig = plots.plot_kernels(net, sample_rate=16000, channels=[2])
    ax_t, ax_f = fig.axes
    assert ax_t.get_xlabel() == "time lag (ms)" and ax_f.get_xlabel() == "frequency (Hz)"
    assert ax_f.lines[0].get_xdata().max() == pytest.approx(8000)  # Nyquist in Hz
    assert "kernel 2" in ax_t.get_title()
    with pytest.raises(ValueError, match="out of range"):
        plots.plot_kernels(net, channels=[3])


def test_models_without_lifting_layer_are_refused() -> None:
    cnn = wn.models.build("small-cnn", 10)
    with pytest.raises(ValueError, match="no lifting layer"):
        plots.find_lifting_layer(cnn)
    with pytest.raises(ValueError, match="no lifting layer"):
        plots.plot_kernels(cnn)


def test_lifting_output_stops_after_the_lifting_layer() -> None:
    class Boom(nn.Module):
        def forward(self, x):
            raise AssertionError("layers after the lifting layer must not run")

    lift = wn.nn.LiftingConv1d(1, 2, kernel_size=5, num_scales=3)
    x = torch.randn(100)
    y = plots.lifting_output(nn.Sequential(lift, Boom()), x)
    torch.testing.assert_close(y, lift(x[None, None]).detach())
    assert y.shape == (1, 2, 3, 100)


def test_plot_scalogram_shows_the_lifting_output(tmp_path: Path) -> None:
    net = _net(channels=3, scales=4)
    x = torch.randn(1, 500)
    fig = plots.plot_scalogram(net, x, db=False, out=tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:8] == PNG
    ax_x, ax_s, cbar = fig.axes
    assert _labels(ax_x) == ("time (samples)", "input amplitude (a.u.)")
    assert _labels(ax_s) == ("time (samples)", "scale s_j (kernel dilation)")
    assert cbar.get_ylabel() == "RMS response over 3 channels (a.u.)"
    mesh = ax_s.collections[0]
    expected = plots.lifting_output(net, x)[0].pow(2).mean(0).sqrt().numpy()
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(4, 500), expected, rtol=1e-6)
    fig = plots.plot_scalogram(net, x[0], sample_rate=100.0, channel=1, yaxis="frequency")
    ax_x, ax_s, cbar = fig.axes
    assert ax_s.get_xlabel() == "time (s)" and ax_s.get_ylabel() == "equivalent frequency (Hz)"
    assert cbar.get_ylabel() == "response of channel 1 (dB re max)"
    db = np.asarray(ax_s.collections[0].get_array())
    assert db.max() == pytest.approx(0.0) and db.min() >= -60.0 - 1e-4
    assert ax_x.lines[0].get_xdata()[-1] == pytest.approx(4.99)
    with pytest.raises(ValueError, match="yaxis"):
        plots.plot_scalogram(net, x, yaxis="time")


CSV = """epoch,step,train/acc,train/loss,val/acc,val/loss,test/acc
0,4,,,0.2,2.1,
0,4,0.15,2.2,,,
1,9,,,0.4,1.9,
1,9,0.3,2.0,,,
2,10,,,,,0.5
"""


def test_plot_training_curve_from_csv_and_mapping(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "logs").mkdir(parents=True)
    (run / "logs" / "metrics.csv").write_text(CSV)
    series = plots.read_metrics(run)
    assert series["val/loss"] == [(0, 2.1), (1, 1.9)]
    fig = plots.plot_training_curve(run, out=tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG
    ax_loss, ax_acc = fig.axes
    assert _labels(ax_loss) == ("epoch (passes over the training set)",
                                "loss (cross-entropy, nats)")
    assert _labels(ax_acc) == ("epoch (passes over the training set)",
                               "accuracy (fraction correct)")
    assert sorted(line.get_label() for line in ax_acc.lines) == ["train/acc", "val/acc"]
    fig = plots.plot_training_curve({"train/loss": [(0, 1.0), (1, 0.5)]})
    assert len(fig.axes[0].lines) == 1
    with pytest.raises(FileNotFoundError):
        plots.read_metrics(tmp_path / "nothing")
    with pytest.raises(ValueError, match="no loss or accuracy"):
        plots.plot_training_curve({"lr": [(0, 1.0)]})


def test_plot_scale_study_log_axis(tmp_path: Path) -> None:
    result = {
        "dataset": "toy", "factors": [0.5, 1.0, 2.0], "seeds": [0, 1],
        "models": {
            "w-net": {"params": 10, "mean": {"0.5": 0.8, "1": 0.9, "2": 0.85},
                      "std": {"0.5": 0.01, "1": 0.0, "2": 0.02}},
            "cnn": {"params": 11, "mean": {"0.5": 0.3, "1": 0.9, "2": 0.4},
                    "std": {"0.5": 0.0, "1": 0.0, "2": 0.0}},
        },
    }
    fig = plots.plot_scale_study(result, out=tmp_path / "p.png")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel().startswith("test-set resampling factor")
    assert ax.get_ylabel() == "test accuracy (fraction correct)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["w-net (10 params)", "cnn (11 params)"]
    assert (tmp_path / "p.png").read_bytes()[:8] == PNG

"""``wavelet-networks predict --model NAME --ckpt WEIGHTS``: a zoo model with weights of its own
or of the paper's code, and the paper's preprocessing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import run_cli
from wavelet_networks.cli import main
from wavelet_networks.cli.evaluate import paper_clip
from wavelet_networks.models import build
from wavelet_networks.models.fidelity import find_fixtures, load_golden

ROOT, LOOKED = find_fixtures(Path(__file__).resolve().parents[2])
needs_fixtures = pytest.mark.skipif(
    ROOT is None, reason=f"golden fixtures of the paper's code not found (looked in {LOOKED})"
)


@pytest.mark.parametrize(("n", "before", "after"), [(5, 1, 2), (6, 1, 1), (11, -2, -1), (12, -2, -2)])
def test_paper_clip_centres_as_the_papers_loader(n, before, after):
    """The paper pads (length - n) // 2 before and the rest after; negative counts crop."""
    x = np.arange(1, n + 1, dtype=np.float32)[None]
    out = paper_clip(x, None, {"sample_rate": None, "input_length": 8})
    assert out.shape == (1, 1, 1, 8)
    expected = torch.nn.functional.pad(torch.from_numpy(x), (before, after))
    assert torch.equal(out[0, 0], expected)


def test_paper_clip_mixes_to_mono_and_resamples():
    t = np.arange(8000) / 8000
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    x = np.stack([tone, 0 * tone])  # stereo: mean = tone / 2
    out = paper_clip(x, 8000.0, {"sample_rate": 16000, "input_length": 16000})[0, 0, 0].numpy()
    expected = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000) / 2
    assert np.abs(out[100:-100] - expected[100:-100]).max() < 1e-3


def test_predict_with_zoo_weights(tmp_path, capsys):
    """A plain state dict of the zoo's w-1d-cnn; probabilities are the model's on the clip."""
    torch.manual_seed(0)
    model = build("w-1d-cnn", 10).eval()
    torch.save(model.state_dict(), tmp_path / "w.pt")
    clip = (np.random.default_rng(0).standard_normal(60000) * 0.1).astype(np.float32)
    sf.write(tmp_path / "clip.wav", clip, 16000, subtype="FLOAT")
    assert main(["predict", "--ckpt", str(tmp_path / "w.pt"), "--model", "w-1d-cnn", "--json",
                 str(tmp_path / "clip.wav")]) == 0  # fmt: skip
    rec = json.loads(capsys.readouterr().out)
    assert list(rec["probabilities"])[8] == "siren"
    padded = np.pad(clip, (2000, 2000))[None, None]
    with torch.no_grad():
        expected = model(torch.from_numpy(padded)).softmax(-1)[0].numpy()
    got = np.array(list(rec["probabilities"].values()))
    assert np.abs(got - expected).max() < 1e-6


def test_predict_with_weights_that_do_not_fit(tmp_path):
    torch.save(build("m5", 10).state_dict(), tmp_path / "m5.pt")
    np.save(tmp_path / "x.npy", np.zeros(64000, dtype=np.float32))
    r = run_cli("predict", "--ckpt", str(tmp_path / "m5.pt"), "--model", "w-1d-cnn",
                str(tmp_path / "x.npy"))  # fmt: skip
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: weights in")
    assert "fit 'm5' (its own layout)" in lines[0]
    r = run_cli("predict", "--ckpt", str(tmp_path / "m5.pt"), "--model", "w-9", str(tmp_path / "x.npy"))
    assert r.returncode == 2 and r.stderr.startswith("error: unknown model 'w-9'")


@needs_fixtures
def test_golden_predict_with_the_papers_trained_w_1d_cnn(tmp_path, capsys):
    """The paper's model.pth on its fixture's input 0 as a 16-bit wav: class 8, "siren",
    with the probabilities of the paper's own logits."""
    g = load_golden(ROOT, "w-1d-cnn")
    path = tmp_path / "input0.wav"
    sf.write(path, g.reference["inputs_int16"][0], 16000, subtype="PCM_16")
    assert main(["predict", "--ckpt", str(g.weights), "--model", "w-1d-cnn", str(path)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{path}: siren (p=")
    assert main(["predict", "--ckpt", str(g.weights), "--model", "w-1d-cnn", "--json",
                 str(path)]) == 0  # fmt: skip
    rec = json.loads(capsys.readouterr().out)
    assert rec["class"] == "siren"
    paper = torch.from_numpy(g.logits(torch.float32)[0]).softmax(-1).numpy()
    assert np.abs(np.array(list(rec["probabilities"].values())) - paper).max() < 1e-5


@needs_fixtures
def test_golden_predict_resamples_and_mixes_like_the_papers_loader(tmp_path, capsys):
    """The same clip as stereo at 22.05 kHz: mono by the mean, soxr back to 16 kHz; still a siren."""
    g = load_golden(ROOT, "w-1d-cnn")
    import soxr

    x = g.reference["inputs_int16"][0] / 32768
    y = soxr.resample(x, 16000, 22050)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([y, y], axis=1), 22050, subtype="PCM_16")
    assert main(["predict", "--ckpt", str(g.weights), "--model", "w-1d-cnn", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: siren (p=")

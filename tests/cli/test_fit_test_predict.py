"""End to end: fit -> run directory; test --ckpt reproduces; predict; resume; cv; pair mode."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY
from wavelet_networks.cli import main


def _results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def test_fit_writes_a_complete_run_directory(fitted_run: Path) -> None:
    for rel in ("results.json", "config.yaml", "learning_curve.png", "checkpoints/best.ckpt",
                "checkpoints/last.ckpt", "logs/metrics.csv"):
        assert (fitted_run / rel).is_file(), rel
    assert list((fitted_run / "tb").glob("events.out.tfevents.*"))
    assert (fitted_run / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = _results(fitted_run)
    assert r["model"] == "small-cnn" and r["dataset"] == "acsf1" and r["seed"] == 0
    assert r["params"] == sum(
        p.numel() for p in __import__("wavelet_networks").models.build("small-cnn", 10).parameters()
    )
    m = r["metrics"]
    assert 0.0 <= m["test/acc"] <= 1.0
    assert len(m["test/acc_per_class"]) == 10
    cm = np.array(m["test/confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 30  # 3 test series per class
    assert np.isclose(np.trace(cm) / cm.sum(), m["test/acc"])
    assert r["epochs_trained"] == 2 and r["best_epoch"] in (0, 1)
    assert r["config"]["model"]["model_name"] == "small-cnn"
    assert r["times_s"]["total"] > 0
    # Only the finished results file, no temporary leftovers of the atomic write.
    assert not list(fitted_run.glob(".results.json.*"))


def test_test_ckpt_reproduces_saved_accuracy_exactly(fitted_run: Path, capsys) -> None:
    ckpt = fitted_run / "checkpoints" / "best.ckpt"
    assert main(["test", "--ckpt", str(ckpt), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    saved = _results(fitted_run)["metrics"]
    assert metrics["test/acc"] == saved["test/acc"]
    assert metrics["test/confusion_matrix"] == saved["test/confusion_matrix"]
    assert main(["test", "--ckpt", str(ckpt)]) == 0
    assert "test/acc matches the saved run" in capsys.readouterr().out


def test_predict_prints_class_and_probabilities(fitted_run: Path, tmp_path: Path, capsys) -> None:
    from aeon.datasets import load_classification

    x, _ = load_classification("ACSF1", split="test")
    np.save(tmp_path / "a.npy", x[0, 0])
    np.save(tmp_path / "b.npy", x[15])  # (channels, time)
    ckpt = fitted_run / "checkpoints" / "best.ckpt"
    assert main(["predict", "--ckpt", str(ckpt), "--json",
                 str(tmp_path / "a.npy"), str(tmp_path / "b.npy")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        rec = json.loads(line)
        probs = rec["probabilities"]
        assert set(probs) == {str(i) for i in range(10)}
        assert abs(sum(probs.values()) - 1.0) < 1e-5
        assert rec["class"] == max(probs, key=probs.get)
    # Same probabilities as the model on the data module's preprocessed series.
    from wavelet_networks.cli.evaluate import load_checkpoint
    from wavelet_networks.data.acsf1 import standardize_per_series

    model, _ = load_checkpoint(str(ckpt))
    with torch.no_grad():
        expected = model.probabilities(model(torch.from_numpy(standardize_per_series(x[:1]))))
    got = json.loads(lines[0])["probabilities"]
    assert np.allclose([got[str(i)] for i in range(10)], expected[0].numpy(), atol=1e-6)
    assert main(["predict", "--ckpt", str(ckpt), str(tmp_path / "a.npy")]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{tmp_path / 'a.npy'}: ") and "(p=" in text and "top-3" in text


def test_interrupted_run_leaves_no_result_and_resumes(tmp_path: Path, capsys) -> None:
    args = ["fit", "--model.model_name", "small-cnn", "--run_root", str(tmp_path), *TINY,
            "--trainer.max_epochs", "3"]
    handler = signal.getsignal(signal.SIGINT)
    try:
        code = main([*args, "--trainer.callbacks+=toydata.InterruptAfterEpoch",
                     "--trainer.callbacks.epoch", "0"])
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores SIGINT after an interrupt
    assert code != 0
    run_dir = tmp_path / "acsf1" / "small-cnn" / "fold-none" / "seed-0"
    assert not (run_dir / "results.json").exists()
    assert not (run_dir / "learning_curve.png").exists()
    last = run_dir / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["epoch"] == 0
    capsys.readouterr()
    assert main(args) == 0
    assert f"resuming from {last}" in capsys.readouterr().out
    r = _results(run_dir)
    assert r["resumed_from"] == str(last)
    assert r["epochs_trained"] == 3
    # The learning curve keeps the epochs before the interruption.
    from wavelet_networks.training.run import read_epoch_metrics

    epochs = [e for e, _ in read_epoch_metrics(run_dir / "logs")["val/loss"]]
    assert epochs == [0, 1, 2]
    # A finished run is not silently retrained ...
    assert main(args) == 2
    assert "already holds a finished run" in capsys.readouterr().err
    # ... unless asked to.
    assert main([*args, "--overwrite", "true"]) == 0
    assert _results(run_dir)["resumed_from"] is None


def test_fit_without_model_trains_the_default_pair(tmp_path: Path, capsys) -> None:
    assert main(["fit", "--run_root", str(tmp_path), *TINY, "--trainer.max_epochs", "1"]) == 0
    out = capsys.readouterr().out
    table = out[out.index("\nmodel ") + 1:]
    accs = {}
    for name in ("w-small-cnn", "small-cnn"):
        r = _results(tmp_path / "acsf1" / name / "fold-none" / "seed-0")
        accs[name] = r["metrics"]["test/acc"]
        assert f"{r['metrics']['test/acc']:.4f}" in table
    lines = table.splitlines()
    assert lines[1].split()[0] == "w-small-cnn" and lines[2].split()[0] == "small-cnn"
    # Next to the test accuracy: the test set played at half and at double speed.
    assert lines[0].split()[4:7] == ["half", "speed", "2x"]
    from wavelet_networks.studies.scale import speed_accuracies

    for line, name in zip(lines[1:3], ("w-small-cnn", "small-cnn"), strict=True):
        r = _results(tmp_path / "acsf1" / name / "fold-none" / "seed-0")
        speeds = speed_accuracies(r["checkpoint"])
        assert line.split()[3:5] == [f"{speeds['0.5']:.4f}", f"{speeds['2']:.4f}"]
    assert "played at half speed" in table


def test_cv_reports_mean_and_std_over_folds(tmp_path: Path, capsys) -> None:
    args = ["cv", "--data", "toydata.ToyFolds", "--model.model_name", "small-cnn",
            "--model.model_overrides", "{channels: [4, 4, 4]}", "--run_root", str(tmp_path),
            "--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false"]
    assert main(args) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "toyfolds" / "small-cnn" / "cv-seed-0.json").read_text())
    assert summary["folds"] == [1, 2, 3]
    per_fold = [
        _results(tmp_path / "toyfolds" / "small-cnn" / f"fold-{k}" / "seed-0")["metrics"][
            "test/acc"] for k in (1, 2, 3)
    ]
    assert summary["values"] == per_fold
    assert summary["mean"] == pytest.approx(np.mean(per_fold))
    assert summary["std"] == pytest.approx(np.std(per_fold, ddof=1))
    assert f"{summary['mean']:.4f} +- {summary['std']:.4f}" in out
    # Rerunning re-uses the finished folds instead of failing or retraining.
    assert main([*args, "--folds", "2"]) == 0
    assert "finished run re-used" in capsys.readouterr().out

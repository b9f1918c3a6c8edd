"""Run-directory helpers: naming, atomic results, learning curves across resumed parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wavelet_networks.training.run import (
    plot_learning_curve,
    read_epoch_metrics,
    run_dir_for,
    write_json_atomic,
)


def test_run_dir_naming() -> None:
    assert run_dir_for("runs", "acsf1", "w-small-cnn", None, 0) == Path(
        "runs/acsf1/w-small-cnn/fold-none/seed-0")
    assert run_dir_for("r", "urbansound8k", "m5", 3, 7) == Path("r/urbansound8k/m5/fold-3/seed-7")


def test_atomic_write_replaces_or_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_json_atomic(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}

    class Boom:
        def __str__(self) -> str:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_json_atomic(path, {"a": Boom()})
    assert json.loads(path.read_text()) == {"a": 1}  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left


def test_learning_curve_from_resumed_parts(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "metrics-part000.csv").write_text(
        "epoch,step,train/loss,val/loss,val/acc\n0,4,,2.0,0.1\n0,4,2.5,,\n1,9,,1.5,0.3\n")
    (logs / "metrics.csv").write_text(
        "epoch,step,train/loss,val/loss,val/acc\n1,9,,1.4,0.35\n2,14,,1.0,0.6\n2,14,1.2,,\n")
    series = read_epoch_metrics(logs)
    assert series["val/loss"] == [(0, 2.0), (1, 1.4), (2, 1.0)]  # the later part wins
    assert series["train/loss"] == [(0, 2.5), (2, 1.2)]
    png = plot_learning_curve(logs, tmp_path / "curve.png", title="t")
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000


def test_learning_curve_of_a_run_without_epoch_series_is_a_note_not_an_error(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "metrics.csv").write_text("epoch,step,test/acc\n0,4,0.5\n")
    png = plot_learning_curve(logs, tmp_path / "curve.png", title="t")
    assert png.read_bytes()[:4] == b"\x89PNG"

"""Distributed data parallel: 2 CPU processes (gloo) train the default model for one epoch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tmp_path: Path) -> None:
    proc = run_cli(
        "fit", "--model.model_name", "w-small-cnn", "--run_root", str(tmp_path),
        "--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu",
        "--trainer.max_epochs", "1", "--data.limit_per_class", "4",
        "--trainer.enable_progress_bar", "false", cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "acsf1" / "w-small-cnn" / "fold-none" / "seed-0"
    results = json.loads((run_dir / "results.json").read_text())
    assert results["world_size"] == 2
    assert results["epochs_trained"] == 1
    assert 0.0 <= results["metrics"]["test/acc"] <= 1.0
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    # Only rank 0 writes: one results file, one summary line.
    assert len(list(tmp_path.rglob("results.json"))) == 1
    assert proc.stdout.count("-> ") == 1

"""Shared fixtures of the CLI tests: tiny runs on ACSF1 (3 series per class)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wavelet_networks.cli import main

SRC = Path(__file__).resolve().parents[2] / "src"

#: Options that make a run take seconds: 3 series per class, 2 epochs, no progress bar.
TINY = [
    "--data.limit_per_class", "3",
    "--data.batch_size", "8",
    "--trainer.max_epochs", "2",
    "--trainer.enable_progress_bar", "false",
    "--trainer.enable_model_summary", "false",
]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m wavelet_networks ARGS`` in a fresh process (real exit code, stderr)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(SRC), str(Path(__file__).parent), env.get("PYTHONPATH", "")]
    )
    env.pop("WAVELET_NETWORKS_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "wavelet_networks", *args],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=300,
    )


@pytest.fixture(scope="session")
def fitted_run(tmp_path_factory) -> Path:
    """One finished tiny small-cnn run on ACSF1; returns its run directory."""
    root = tmp_path_factory.mktemp("runs")
    code = main(["fit", "--model.model_name", "small-cnn", "--run_root", str(root), *TINY])
    assert code == 0
    run_dir = root / "acsf1" / "small-cnn" / "fold-none" / "seed-0"
    assert (run_dir / "results.json").is_file()
    return run_dir


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())

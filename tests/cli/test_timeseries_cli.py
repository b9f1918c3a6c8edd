"""The CLI on UCR and numpy data: fit, run directories named after the set, listing, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import run_cli
from wavelet_networks.cli import main

QUICK = ["--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false",
         "--trainer.enable_model_summary", "false", "--model.model_name", "small-cnn"]


def test_fit_on_a_ucr_set_by_name_then_predict(tmp_path: Path, capsys) -> None:
    assert main(["fit", "--data", "ucr", "--data.name", "GunPoint", "--data.limit_per_class",
                 "5", "--run_root", str(tmp_path), *QUICK]) == 0
    run_dir = tmp_path / "ucr" / "GunPoint" / "small-cnn" / "fold-none" / "seed-0"
    r = json.loads((run_dir / "results.json").read_text())
    assert r["dataset"] == "ucr/GunPoint"
    assert r["config"]["data"]["init_args"]["name"] == "GunPoint"
    # the packaged default's optimiser settings, not Lightning's bare defaults
    assert r["config"]["model"]["scheduler"] == "cosine"
    assert len(np.array(r["metrics"]["test/confusion_matrix"])) == 2
    from aeon.datasets import load_classification

    x, _ = load_classification("GunPoint", split="test")
    np.save(tmp_path / "s.npy", x[0, 0] * 100.0 + 7.0)  # per-series z-score undoes this
    capsys.readouterr()
    assert main(["predict", "--ckpt", str(run_dir / "checkpoints" / "best.ckpt"), "--json",
                 str(tmp_path / "s.npy")]) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(rec["probabilities"]) == {"1", "2"}


def test_fit_on_a_numpy_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 2, 40))
    y = np.array(["a", "b", "c"] * 8)
    x[y == "b"] += np.linspace(0, 3, 40)
    np.savez(tmp_path / "mine.npz", X=x, y=y)
    assert main(["fit", "--data", "numpy", "--data.root", str(tmp_path / "mine.npz"),
                 "--run_root", str(tmp_path / "runs"), *QUICK]) == 0
    r = json.loads(next((tmp_path / "runs").rglob("results.json")).read_text())
    assert r["dataset"] == "numpy" and r["config"]["data"]["init_args"]["test_fraction"] == 0.2


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--data.name", "GunPint"], ["UCR data set 'GunPint' not found", "Did you mean GunPoint"]),
        (["--data.name", "JapaneseVowels"], ["unequal length", "--data.unequal_length pad"]),
    ],
)
def test_ucr_bad_input_is_one_line_error(args: list[str], needles: list[str],
                                         tmp_path: Path) -> None:
    proc = run_cli("fit", "--data", "ucr", *args, *QUICK, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not list(tmp_path.rglob("results.json")) and not list(tmp_path.rglob("*.ckpt"))


def test_data_set_on_command_line_takes_its_own_defaults(capsys) -> None:
    """--data NAME without --config: the default config's trainer and optimiser, the data
    module's own defaults (not ACSF1's val_fraction 0.2 carried over)."""
    assert main(["fit", "--data", "folder", "--data.root", "/nowhere", "--model.model_name",
                 "w-m5", "--print_config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["data"]["init_args"]["val_fraction"] == 0.1
    assert cfg["trainer"]["max_epochs"] == 120 and cfg["model"]["scheduler"] == "cosine"
    assert main(["fit", "--config", "default", "--data", "ucr", "--data.name", "FordA",
                 "--print_config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert "split_seed" in cfg["data"]["init_args"] and cfg["data"]["init_args"]["name"] == "FordA"
    # the same data set as the config's keeps the config's data options
    assert main(["fit", "--data", "acsf1", "--data.batch_size", "4", "--print_config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["data"]["init_args"]["val_fraction"] == 0.2 and cfg["data"]["init_args"][
        "batch_size"] == 4


def test_folder_runs_are_named_after_the_folder(tmp_path: Path) -> None:
    from wavelet_networks.data.folder import FolderDataModule

    assert FolderDataModule.run_name({"root": str(tmp_path / "birds")}) == "folder/birds"
    assert FolderDataModule.run_name({"root": str(tmp_path / "labels.csv")}) == (
        f"folder/{tmp_path.name}")
    assert FolderDataModule.run_name({"root": str(tmp_path / "a.csv")}) == (
        f"folder/{tmp_path.name}-a")


def test_datasets_lists_the_sets_available_offline(capsys) -> None:
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    ucr = out[out.index("\nucr  ("):]
    assert "available offline" in ucr and "GunPoint" in ucr and "ACSF1" in ucr
    assert "\nnumpy  (multiclass)" in out


def test_fast_dev_run_is_a_smoke_test_not_a_result(tmp_path: Path, capsys) -> None:
    assert main(["fit", "--model.model_name", "small-cnn", "--trainer.fast_dev_run", "2",
                 "--data.limit_per_class", "3", "--trainer.enable_progress_bar", "false",
                 "--run_root", str(tmp_path)]) == 0
    assert "a smoke test, not a result" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())  # no run directory, no results.json

"""Bad input: one line on stderr, non-zero exit code, no traceback, nothing that looks like a result."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_cli


def _assert_one_line_error(proc, *needles: str) -> None:
    assert proc.returncode != 0, proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]


def _no_results(root: Path) -> None:
    assert not list(root.rglob("results.json"))
    assert not list(root.rglob("*.ckpt"))
    assert not (root / "runs").exists()


CASES = {
    "unknown model": (["--model.model_name", "m99"], ["unknown model 'm99'", "small-cnn"]),
    "unknown data set": (["--model.model_name", "small-cnn", "--data", "urbansound9k"],
                         ["unknown data set 'urbansound9k'", "acsf1"]),
    "missing data directory": (["--model.model_name", "small-cnn", "--data.root", "/no/such/dir"],
                               ["'/no/such/dir' does not exist", "--data.root"]),
    "missing UrbanSound8K directory": (
        ["--model.model_name", "small-cnn", "--data", "urbansound8k", "--data.root", "/no/such/dir"],
        ["/no/such/dir", "does not exist"],
    ),
    "unknown config key": (["--model.model_name", "small-cnn", "--model.learning_rate", "1"],
                           ["--model.learning_rate"]),
    "unknown data option": (["--model.model_name", "small-cnn", "--data.bogus", "1"],
                            ["unknown option --data.bogus"]),
    "wrong value type": (["--model.model_name", "small-cnn", "--trainer.max_epochs", "ten"],
                         ["--trainer.max_epochs", "'ten'", "int"]),
    "unknown config name": (["--config", "urbansound8k_m99"], ["urbansound8k_m99", "default"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fit_bad_input(case: str, tmp_path: Path) -> None:
    args, needles = CASES[case]
    proc = run_cli("fit", *args, "--trainer.max_epochs", "1", cwd=tmp_path) if (
        "--trainer.max_epochs" not in args
    ) else run_cli("fit", *args, cwd=tmp_path)
    _assert_one_line_error(proc, *needles)
    _no_results(tmp_path)


def test_config_file_with_unknown_key(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("model:\n  model_name: small-cnn\n  lr_warmup: 3\n")
    proc = run_cli("fit", "--config", str(cfg), cwd=tmp_path)
    _assert_one_line_error(proc, "lr_warmup")
    _no_results(tmp_path)


def test_predict_undecodable_audio(fitted_run: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEthis is not audio at all")
    good = tmp_path / "ok.npy"
    import numpy as np

    np.save(good, np.zeros(1460, dtype=np.float32))
    ckpt = fitted_run / "checkpoints" / "best.ckpt"
    proc = run_cli("predict", "--ckpt", str(ckpt), str(good), str(bad), cwd=tmp_path)
    _assert_one_line_error(proc, "cannot decode", "broken.wav")
    assert proc.stdout == ""  # all inputs are read before any prediction is printed


@pytest.mark.parametrize(
    "args, needle",
    [
        (["test", "--ckpt", "/no/such.ckpt"], "does not exist"),
        (["predict", "--ckpt", "/no/such.ckpt", "x.npy"], "does not exist"),
        (["frobnicate"], "unknown subcommand"),
        (["models", "m99"], "unknown model"),
    ],
)
def test_other_bad_input(args: list[str], needle: str, tmp_path: Path) -> None:
    _assert_one_line_error(run_cli(*args, cwd=tmp_path), needle)
    assert list(tmp_path.iterdir()) == []

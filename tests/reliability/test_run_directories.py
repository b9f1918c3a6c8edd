"""Run directories: only folders the CLI made are replaced, never emptied first; one fit at a time."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from faultlib import (
    cli_command,
    cli_env,
    error_line,
    fit_args,
    kill_args,
    results,
    run_cli,
    run_dir_of,
)

from wavelet_networks.cli import main


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished tiny run (2 epochs); tests copy it before changing it."""
    root = tmp_path_factory.mktemp("finished")
    assert main(fit_args(root, "--trainer.max_epochs", "2")) == 0
    return root


def _copy_run(finished: Path, tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "runs"
    shutil.copytree(finished, root)
    return root, run_dir_of(root)


@pytest.mark.parametrize("option", [["--resume", "never"], ["--overwrite", "true"]])
def test_a_folder_the_cli_did_not_make_is_never_deleted(option, tmp_path: Path, capsys) -> None:
    precious = tmp_path / "precious"
    (precious / "sub").mkdir(parents=True)
    (precious / "thesis.tex").write_text("years of work")
    (precious / "sub" / "data.bin").write_bytes(b"\x00\x01")
    assert main(fit_args(tmp_path, "--run_dir", str(precious), *option)) == 2
    error_line(capsys.readouterr().err, str(precious), "not a run directory")
    assert (precious / "thesis.tex").read_text() == "years of work"
    assert (precious / "sub" / "data.bin").read_bytes() == b"\x00\x01"


def test_overwrite_keeps_the_finished_run_when_the_new_one_fails(finished, tmp_path) -> None:
    root, rd = _copy_run(finished, tmp_path)
    before = (rd / "results.json").read_bytes()
    bad = tmp_path / "bad" / "ACSF1"
    bad.mkdir(parents=True)
    for split in ("TRAIN", "TEST"):  # files that exist but are not UCR .ts data
        (bad / f"ACSF1_{split}.ts").write_text("this is not a time series\n")
    code = main(fit_args(root, "--trainer.max_epochs", "2", "--overwrite", "true",
                         "--data.root", str(tmp_path / "bad")))
    assert code != 0
    assert (rd / "results.json").read_bytes() == before
    assert (rd / "checkpoints" / "best.ckpt").is_file()
    assert sorted(p.name for p in rd.parent.iterdir()) == ["seed-0"]  # nothing half-made beside


def test_a_killed_overwrite_leaves_the_old_run_and_resumes(finished, tmp_path, capsys) -> None:
    root, rd = _copy_run(finished, tmp_path)
    before = results(rd)
    args = fit_args(root, "--trainer.max_epochs", "2", "--overwrite", "true",
                    "--model.lr", "0.001")
    proc = run_cli(*args, *kill_args(epoch=1, batch=0), cwd=tmp_path)
    assert proc.returncode == -9  # SIGKILL
    assert results(rd) == before  # the finished run is untouched ...
    incoming = rd.parent / ".seed-0.incoming"
    assert (incoming / "checkpoints" / "last.ckpt").is_file()  # ... the new one waits beside it
    capsys.readouterr()
    assert main(args) == 0
    assert f"resuming from {incoming / 'checkpoints' / 'last.ckpt'}" in capsys.readouterr().out
    after = results(rd)
    assert after["config"]["model"]["lr"] == 0.001 and before["config"]["model"]["lr"] != 0.001
    assert after["checkpoint"] == str((rd / "checkpoints" / "best.ckpt").resolve())
    assert sorted(p.name for p in rd.parent.iterdir()) == ["seed-0"]


def test_overwrite_with_a_checkpoint_to_resume_is_refused_and_changes_nothing(
        finished, tmp_path, capsys) -> None:
    root, rd = _copy_run(finished, tmp_path)
    before = results(rd)
    ckpt = rd / "checkpoints" / "last.ckpt"
    code = main(fit_args(root, "--trainer.max_epochs", "2", "--overwrite", "true",
                         "--resume", str(ckpt)))
    assert code == 2
    error_line(capsys.readouterr().err, "--overwrite true", "cannot also resume", str(ckpt))
    assert results(rd) == before
    assert sorted(p.name for p in rd.parent.iterdir()) == ["seed-0"]


def test_a_second_fit_into_the_same_run_directory_is_refused(tmp_path: Path, capsys) -> None:
    root = tmp_path / "runs"
    started, go = tmp_path / "started", tmp_path / "go"
    args = fit_args(root, "--trainer.max_epochs", "2")
    first = subprocess.Popen(
        cli_command(*args, "--trainer.callbacks+=faults.HoldAtStart",
                    "--trainer.callbacks.started", str(started), "--trainer.callbacks.go",
                    str(go)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=tmp_path)
    try:
        deadline = time.monotonic() + 240
        while not started.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert started.exists(), first.communicate()[1][-3000:]
        capsys.readouterr()
        assert main(args) == 2
        error_line(capsys.readouterr().err, "in use by another fit", f"process {first.pid} on ",
                   socket.gethostname())
        assert not (run_dir_of(root) / "checkpoints").exists()  # the first has not trained yet
    finally:
        go.touch()
        _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-3000:]
    rd = run_dir_of(root)
    import csv

    with (rd / "logs" / "metrics.csv").open() as f:
        val_epochs = [r["epoch"] for r in csv.DictReader(f) if r.get("val/loss")]
    assert val_epochs == ["0", "1"]  # one run's epochs, once each
    assert not (rd.parent / ".seed-0.lock").exists()  # released at the end


def test_resuming_with_other_options_names_them(tmp_path, capsys) -> None:
    root = tmp_path / "runs"
    proc = run_cli(*fit_args(root), *kill_args(epoch=1, batch=0), cwd=tmp_path)
    assert proc.returncode == -9
    assert main(fit_args(root, "--model.lr", "0.01", "--data.batch_size", "4")) == 2
    error_line(capsys.readouterr().err, "other options", "--model.lr 0.003 (saved) vs 0.01 (now)",
               "--data.init_args.batch_size 8 (saved) vs 4 (now)")
    # Options that only change how long it trains or what it prints may differ.
    assert main(fit_args(root, "--trainer.max_epochs", "2")) == 0
    assert "resuming from" in capsys.readouterr().out

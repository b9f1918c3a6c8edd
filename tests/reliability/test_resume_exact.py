"""A fit killed or signalled at any point and run again ends exactly like one never stopped.

Every comparison is exact: the per-step trace (examples, learning rate, random
generator state), the test metrics and every weight of the best and last
checkpoints. One thread per process makes the arithmetic deterministic.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from faultlib import (
    fit_args,
    kill_args,
    one_line_error,
    reference_run,
    results,
    run_cli,
    run_dir_of,
    same_weights,
    trace_args,
)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    return reference_run(tmp_path_factory.mktemp("reference"))


def _assert_same_run(reference: dict, run_dir: Path, before: list[str], after: list[str]) -> None:
    ref_dir, ref_trace = reference["run_dir"], reference["trace"]
    # The stopped process trained the reference's first steps; the resumed one the rest
    # (repeating any step done after the checkpoint it resumed from).
    assert after, "the resumed run trained nothing"
    resumed_at = len(ref_trace) - len(after)
    assert 0 < resumed_at <= len(before)
    assert before[:resumed_at] == ref_trace[:resumed_at]
    assert after == ref_trace[resumed_at:]
    got, want = results(run_dir), results(ref_dir)
    assert got["metrics"] == want["metrics"]
    assert (got["best_epoch"], got["best_val_loss"]) == (want["best_epoch"], want["best_val_loss"])
    for name in ("best.ckpt", "last.ckpt"):
        assert same_weights(run_dir / "checkpoints" / name, ref_dir / "checkpoints" / name)


def _stop_and_resume(tmp_path: Path, stop: list[str]):
    root = tmp_path / "runs"
    first, second = tmp_path / "first.trace", tmp_path / "second.trace"
    stopped = run_cli(*fit_args(root, *trace_args(first), *stop), cwd=tmp_path)
    resumed = run_cli(*fit_args(root, *trace_args(second)), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stdout
    lines = [p.read_text().splitlines() if p.exists() else [] for p in (first, second)]
    return stopped, run_dir_of(root), lines[0], lines[1]


def test_sigkill_then_resume_equals_an_uninterrupted_run(reference, tmp_path) -> None:
    # Killed in its second epoch: the run resumes from the end of the first.
    stopped, run_dir, before, after = _stop_and_resume(tmp_path, kill_args(epoch=1, batch=1))
    assert stopped.returncode == -9
    _assert_same_run(reference, run_dir, before, after)


def _run_dirs(root: Path) -> list[Path]:
    """The run directories under ``root`` (marked folders; hidden staging folders aside)."""
    from wavelet_networks.training.run import MARKER_FILE

    return sorted(m.parent for m in root.rglob(MARKER_FILE) if not m.parent.name.startswith("."))


def test_a_run_killed_before_its_first_checkpoint_resumes_exactly(reference, tmp_path) -> None:
    """No run directory without a result or a checkpoint, from the first moment on.

    Killed before training starts, a run leaves only its staging folder, which the
    same command clears; killed in its first epoch, it leaves a run directory with
    a step-0 ``last.ckpt`` from which the same command trains the reference run.
    """
    import torch

    from wavelet_networks.training.run import incoming_dir_for, is_run_dir

    root, rd = tmp_path / "runs", run_dir_of(tmp_path / "runs")
    staging = incoming_dir_for(rd)
    first, second = tmp_path / "first.trace", tmp_path / "second.trace"
    early = run_cli(*fit_args(root, *kill_args(epoch=0, where="fit_start")), cwd=tmp_path)
    assert early.returncode == -9, early.stderr[-3000:]
    assert _run_dirs(root) == [] and is_run_dir(staging)

    stopped = run_cli(*fit_args(root, *trace_args(first), *kill_args(epoch=0, batch=1)),
                      cwd=tmp_path)
    assert stopped.returncode == -9, stopped.stderr[-3000:]
    assert "resuming from" not in stopped.stdout
    assert _run_dirs(root) == [rd] and not staging.exists()
    assert (rd / "config.yaml").is_file() and not (rd / "results.json").exists()
    ckpt = torch.load(rd / "checkpoints" / "last.ckpt", weights_only=True)
    assert (ckpt["epoch"], ckpt["global_step"]) == (0, 0)
    before = first.read_text().splitlines()
    assert len(before) == 2 and before == reference["trace"][:2]

    resumed = run_cli(*fit_args(root, *trace_args(second)), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from {rd / 'checkpoints' / 'last.ckpt'}" in resumed.stdout
    assert second.read_text().splitlines() == reference["trace"]
    got, want = results(rd), results(reference["run_dir"])
    assert got["metrics"] == want["metrics"]
    assert (got["best_epoch"], got["best_val_loss"]) == (want["best_epoch"], want["best_val_loss"])
    for name in ("best.ckpt", "last.ckpt"):
        assert same_weights(rd / "checkpoints" / name, reference["run_dir"] / "checkpoints" / name)
    assert _run_dirs(root) == [rd] and not staging.exists()


def test_resume_from_a_checkpoint_file_starts_with_it_as_last_ckpt(reference, tmp_path) -> None:
    """``--resume PATH`` into a new run directory: it appears holding a copy of PATH."""
    from wavelet_networks.training.run import incoming_dir_for

    root, rd = tmp_path / "runs", run_dir_of(tmp_path / "runs")
    given = reference["run_dir"] / "checkpoints" / "last.ckpt"
    args = fit_args(root, "--trainer.max_epochs", "4", "--resume", str(given))
    stopped = run_cli(*args, *kill_args(epoch=3, batch=0), cwd=tmp_path)
    assert stopped.returncode == -9, stopped.stderr[-3000:]
    assert _run_dirs(root) == [rd] and not incoming_dir_for(rd).exists()
    assert (rd / "checkpoints" / "last.ckpt").read_bytes() == given.read_bytes()
    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert results(rd)["epochs_trained"] == 4


def test_sigterm_saves_a_checkpoint_exits_143_and_resumes_exactly(reference, tmp_path) -> None:
    # Mid-epoch: the checkpoint is written at the batch boundary after the signal,
    # and the resumed run skips the batches of that epoch already trained on.
    stop = kill_args(epoch=1, batch=0, signal_name="SIGTERM")
    stopped, run_dir, before, after = _stop_and_resume(tmp_path, stop)
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    one_line_error(stopped, "interrupted by SIGTERM at epoch 1, step ", "last.ckpt",
                   "run the same command again to resume")
    _assert_same_run(reference, run_dir, before, after)
    assert results(run_dir)["resumed_from"] == str(run_dir / "checkpoints" / "last.ckpt")


def test_sigint_saves_a_checkpoint_and_exits_130(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    stopped = run_cli(*fit_args(root, *kill_args(epoch=0, batch=1, signal_name="SIGINT")),
                      cwd=tmp_path)
    import re

    import torch

    assert stopped.returncode == 130, stopped.stderr[-3000:]
    line = one_line_error(stopped, "interrupted by SIGINT at epoch 0, step ", "last.ckpt",
                          "run the same command again to resume")
    step = int(re.search(r"step (\d+)", line).group(1))
    rd = run_dir_of(root)
    ckpt = torch.load(rd / "checkpoints" / "last.ckpt", weights_only=True)
    assert step in (2, 3) and (ckpt["epoch"], ckpt["global_step"]) == (0, step)  # mid-epoch
    assert not (rd / "results.json").exists()

"""What a run leaves on disk: a result only for a run that succeeded, files every reader can open."""

from __future__ import annotations

import os
from pathlib import Path

from faultlib import error_line, fit_args, make_audio_folder, run_dir_of

from wavelet_networks.cli import main


def _folder_fit(tmp_path: Path, csv_path: Path) -> list[str]:
    return ["fit", "--data", "folder", "--data.root", str(csv_path), "--data.sample_rate", "8000",
            "--data.clip_seconds", "0.25", "--data.batch_size", "4",
            "--model.model_name", "small-cnn", "--trainer.max_epochs", "1",
            "--trainer.enable_progress_bar", "false", "--run_root", str(tmp_path / "runs")]


def test_an_empty_test_split_fails_and_is_not_recorded_as_finished(tmp_path, capsys) -> None:
    files = make_audio_folder(tmp_path / "data")
    rows = "".join(f"{k},{v},{'val' if k.endswith('_0.wav') else 'train'}\n"
                   for k, v in files.items())
    csv_path = tmp_path / "data" / "labels.csv"
    csv_path.write_text("path,label,split\n" + rows)  # train and val rows only
    args = _folder_fit(tmp_path, csv_path)
    for _ in range(2):  # the same command again fails the same way, it is not "finished"
        assert main(args) == 2
        error_line(capsys.readouterr().err, "the test split of data set 'folder' is empty",
                   "train 6, val 2, test 0 examples")
        assert not list(tmp_path.rglob("results.json"))
    assert not (tmp_path / "runs").exists()  # nothing trained, nothing left


def test_every_file_of_a_run_has_the_umask_permissions(tmp_path: Path) -> None:
    assert main(fit_args(tmp_path, "--trainer.max_epochs", "1")) == 0
    umask = os.umask(0)
    os.umask(umask)
    expected = 0o666 & ~umask
    rd = run_dir_of(tmp_path)
    assert oct((rd / "results.json").stat().st_mode & 0o777) == oct(expected)
    files = [p for p in rd.rglob("*") if p.is_file()]
    modes = {p.relative_to(rd).as_posix(): oct(p.stat().st_mode & 0o777) for p in files}
    assert set(modes.values()) == {oct(expected)}, modes
    assert set(modes) >= {"results.json", "config.yaml", "learning_curve.png",
                          "checkpoints/best.ckpt", "checkpoints/last.ckpt", "logs/metrics.csv",
                          ".wavelet-networks-run"}
    # Nothing else is left beside the run: no lock, no temporary or half-written file.
    assert [p.name for p in rd.parent.iterdir()] == ["seed-0"]
    assert not [p for p in files if p.name.endswith((".tmp", ".tmp.png"))]

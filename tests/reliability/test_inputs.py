"""Bad inputs at the boundary: rejected with the file (and line) named, never a wrong answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from faultlib import (
    HERE,
    SRC,
    error_line,
    fit_args,
    make_audio_folder,
    run_dir_of,
    write_wav,
)

from wavelet_networks.cli import main
from wavelet_networks.data.folder import FolderDataModule


def folder_data(root, **kw) -> FolderDataModule:
    return FolderDataModule(str(root), **{"sample_rate": 8000, "clip_seconds": 0.25, **kw})


def write_csv(folder: Path, text: str, name: str = "labels.csv", encoding="utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    make_audio_folder(tmp_path / "data")
    return tmp_path / "data"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Path:
    """A finished tiny run's best checkpoint."""
    root = tmp_path_factory.mktemp("fitted")
    assert main(fit_args(root, "--trainer.max_epochs", "1")) == 0
    return run_dir_of(root) / "checkpoints" / "best.ckpt"


# ----------------------------------------------------------------------------- predict
@pytest.mark.parametrize(
    "kind, needle",
    [("nan.npy", "NaN or infinite"), ("inf.npy", "NaN or infinite"),
     ("nan.wav", "NaN or infinite"), ("empty.npy", "holds no samples"),
     ("empty2d.npy", "holds no samples")],
)
def test_predict_rejects_non_finite_and_empty_inputs(kind, needle, fitted, tmp_path, capsys):
    path = tmp_path / kind
    if kind == "nan.npy":
        np.save(path, np.full(1460, np.nan, dtype=np.float32))
    elif kind == "inf.npy":
        x = np.zeros(1460, dtype=np.float32)
        x[7] = np.inf
        np.save(path, x)
    elif kind == "nan.wav":
        write_wav(path, 0, value=float("nan"))
    elif kind == "empty.npy":
        np.save(path, np.zeros(0, dtype=np.float32))
    else:
        np.save(path, np.zeros((1, 0), dtype=np.float32))
    assert main(["predict", "--ckpt", str(fitted), str(path)]) == 2
    out, err = capsys.readouterr()
    error_line(err, str(path), needle)
    assert "p=" not in out


@pytest.mark.parametrize("top_k", ["-2", "0", "two"])
def test_predict_top_k_must_be_a_positive_count(top_k, fitted, tmp_path, capsys) -> None:
    x = tmp_path / "x.npy"
    np.save(x, np.zeros(1460, dtype=np.float32))
    assert main(["predict", "--ckpt", str(fitted), "--top_k", top_k, str(x)]) == 2
    out, err = capsys.readouterr()
    error_line(err, "--top_k", ">= 1", top_k)
    assert out == ""


# ----------------------------------------------------------------------------- CSVs
def test_a_csv_row_naming_a_fifo_is_an_error_not_a_hang(audio: Path) -> None:
    os.mkfifo(audio / "pipe.wav")
    csv_path = write_csv(audio, "path,label\nlow/low_0.wav,low\nhigh/high_0.wav,high\n"
                                "pipe.wav,low\n")
    code = (f"from wavelet_networks.data.folder import FolderDataModule\n"
            f"FolderDataModule({str(csv_path)!r}, sample_rate=8000, clip_seconds=0.25).setup()")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode != 0
    assert "ValueError" in proc.stderr and f"{csv_path}:4" in proc.stderr
    assert "'pipe.wav' is a FIFO" in proc.stderr


@pytest.mark.parametrize(
    "rows, needle",
    [
        ("low/low_0.wav,low\nhigh/high_0.wav,high\nlow/low_0.wav,high\n",
         "labels.csv:4: 'low/low_0.wav' is listed again (first on line 2 with label 'low' "
         "there and 'high' here)"),
        ("low/low_0.wav,low\nhigh/high_0.wav,high\n./low/../low/low_0.wav,low\n",
         "labels.csv:4: './low/../low/low_0.wav' is listed again (first on line 2)"),
        ("low/low_0.wav,low\nhigh/high_0.wav,\n", "labels.csv:3: empty label"),
        ("low/low_0.wav,low\n,high\n", "labels.csv:3: empty path"),
        ("low/low_0.wav,low\nhigh/high_0.wav,high\n../../etc/passwd,low\n",
         "labels.csv:4: path '../../etc/passwd' is outside the CSV's folder"),
        ("low/low_0.wav,low\nhigh/high_0.wav,high\n/etc/passwd,low\n",
         "labels.csv:4: path '/etc/passwd' is outside the CSV's folder"),
        ("low/low_0.wav,low\nhigh/high_0.wav\n", "labels.csv:3: 1 fields, expected 2"),
        ("low/low_0.wav,low,extra\n", "labels.csv:2: 3 fields, expected 2"),
        ("low/low_0.wav,low\nlow/low_1.wav,low\n", "every file has the label 'low'"),
    ],
    ids=["duplicate-conflicting", "duplicate-spelled-differently", "empty-label",
         "empty-path", "parent-path", "absolute-path-elsewhere", "short-row", "long-row",
         "single-class"],
)
def test_bad_csv_rows_are_named(rows: str, needle: str, audio: Path) -> None:
    csv_path = write_csv(audio, "path,label\n" + rows)
    with pytest.raises(ValueError) as info:
        folder_data(csv_path).setup()
    assert needle in str(info.value) and str(audio) in str(info.value)


def test_paths_outside_the_csv_folder_only_with_the_option(tmp_path: Path) -> None:
    files = make_audio_folder(tmp_path / "audio")
    lists = tmp_path / "lists"
    lists.mkdir()
    text = "path,label\n" + "".join(f"../audio/{k},{v}\n" for k, v in files.items())
    csv_path = write_csv(lists, text)
    with pytest.raises(ValueError, match="outside the CSV's folder"):
        folder_data(csv_path).setup()
    dm = folder_data(csv_path, allow_outside_paths=True, val_fraction=0.25, test_fraction=0.25)
    dm.setup()
    assert sum(len(d) for d in dm.datasets.values()) == len(files)


def test_a_csv_with_a_byte_order_mark_is_read(audio: Path) -> None:
    rows = "".join(f"{c}/{c}_{i}.wav,{c}\n" for c in ("low", "high") for i in range(4))
    csv_path = write_csv(audio, "path,label\n" + rows, encoding="utf-8-sig")
    assert csv_path.read_bytes()[:3] == b"\xef\xbb\xbf"
    dm = folder_data(csv_path, val_fraction=0.25, test_fraction=0.25)
    dm.setup()
    assert dm.class_names == ["high", "low"]
    assert sum(len(d) for d in dm.datasets.values()) == 8


@pytest.mark.parametrize(
    "content, needle",
    [(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text file"),
     ("path,label\nlow/caf\xe9.wav,low\n".encode("latin-1"), "not UTF-8 text (byte 18)")],
    ids=["binary", "latin-1"],
)
def test_a_csv_that_is_not_utf8_text_is_named(content: bytes, needle: str, audio: Path) -> None:
    csv_path = write_csv(audio, content)
    with pytest.raises(ValueError) as info:
        folder_data(csv_path).setup()
    assert str(csv_path) in str(info.value) and needle in str(info.value)


# ----------------------------------------------------------------------------- folders
def test_a_folder_whose_files_are_all_corrupt_says_so(tmp_path: Path) -> None:
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(3):
            (tmp_path / label / f"{i}.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage")
    with pytest.raises(ValueError, match=r"all 6 audio files under .* failed to decode"):
        folder_data(tmp_path).setup()


def test_a_root_that_is_a_file_is_named(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "clip.wav", 440)
    with pytest.raises(ValueError, match=r"clip\.wav is a file but not a \.csv file"):
        folder_data(path).setup()


def test_a_single_class_folder_fails_before_training(tmp_path, capsys) -> None:
    make_audio_folder(tmp_path / "data", classes=("only",))
    code = main(["fit", "--data", "folder", "--data.root", str(tmp_path / "data"),
                 "--data.sample_rate", "8000", "--data.clip_seconds", "0.25",
                 "--model.model_name", "small-cnn", "--trainer.max_epochs", "1",
                 "--run_root", str(tmp_path / "runs")])
    assert code == 2
    error_line(capsys.readouterr().err, "every file has the label 'only'", "at least two classes")
    assert not (tmp_path / "runs").exists()


# ----------------------------------------------------------------------------- training
def test_an_infinite_learning_rate_is_rejected(tmp_path, capsys) -> None:
    assert main(fit_args(tmp_path, "--model.lr", "1e400")) == 2
    error_line(capsys.readouterr().err, "lr must be a finite number > 0", "inf")
    assert not list(tmp_path.rglob("results.json"))


def test_a_diverging_loss_stops_training_with_epoch_and_step(tmp_path, capsys) -> None:
    assert main(fit_args(tmp_path, "--model.lr", "1e30", "--model.optimizer", "sgd")) == 2
    line = error_line(capsys.readouterr().err, "the training loss is", "at epoch 0, step ")
    assert "nan" in line or "inf" in line
    # It trained nothing worth resuming: no run directory or staging folder is left.
    assert not list(tmp_path.rglob("results.json"))
    assert not list(tmp_path.rglob(".wavelet-networks-run"))


def test_results_json_is_strict_json(tmp_path: Path) -> None:
    from wavelet_networks.training.run import write_json_atomic

    path = tmp_path / "results.json"
    write_json_atomic(path, {"acc": float("nan"), "loss": [1.0, float("inf")], "ok": 0.5})

    def reject(constant: str):
        raise ValueError(f"not JSON: {constant}")

    assert json.loads(path.read_text(), parse_constant=reject) == {
        "acc": None, "loss": [1.0, None], "ok": 0.5}

"""A checkpoint whose pickle runs code is refused before the code runs, by every reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from faultlib import (
    TINY,
    code_running_checkpoint,
    error_line,
)

from wavelet_networks.cli import main


@pytest.fixture
def evil_checkpoint(tmp_path_factory) -> tuple[Path, Path]:
    return code_running_checkpoint(tmp_path_factory.mktemp("evil"))


@pytest.mark.parametrize(
    "args",
    [
        ["test", "--ckpt", "{ckpt}"],
        ["predict", "--ckpt", "{ckpt}", "{npy}"],
        ["plot", "kernels", "--ckpt", "{ckpt}", "--out", "{out}"],
        ["plot", "scalogram", "--ckpt", "{ckpt}", "--input", "{npy}", "--out", "{out}"],
    ],
    ids=["test", "predict", "plot-kernels", "plot-scalogram"],
)
def test_cli_readers_refuse_a_code_running_checkpoint(args, evil_checkpoint, tmp_path, capsys):
    import numpy as np

    ckpt, witness = evil_checkpoint
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros(1460, dtype=np.float32))
    filled = [a.format(ckpt=ckpt, npy=npy, out=tmp_path / "k.png") for a in args]
    code = main(filled)
    assert not witness.exists()  # the pickle's code did not run
    assert code == 2
    error_line(capsys.readouterr().err, "error: refusing to read checkpoint", "posix.system")
    assert not (tmp_path / "k.png").exists()


def test_fit_resume_refuses_a_code_running_checkpoint(evil_checkpoint, tmp_path, capsys) -> None:
    ckpt, witness = evil_checkpoint
    code = main(["fit", *TINY, "--run_root", str(tmp_path / "runs"), "--resume", str(ckpt)])
    assert not witness.exists()
    assert code == 2
    error_line(capsys.readouterr().err, "refusing to read", str(ckpt))
    assert not (tmp_path / "runs").exists()


def test_studies_refuse_a_code_running_checkpoint(evil_checkpoint) -> None:
    from wavelet_networks.studies.common import data_module_from_checkpoint

    ckpt, witness = evil_checkpoint
    with pytest.raises(Exception) as info:
        data_module_from_checkpoint(ckpt)
    assert not witness.exists()
    assert isinstance(info.value, ValueError) and "posix.system" in str(info.value)


def test_the_loader_reads_plain_state_and_refuses_only_code(tmp_path: Path) -> None:
    import torch

    from wavelet_networks._checkpoint import load_checkpoint_file

    plain = tmp_path / "plain.pt"
    state = {"w": torch.arange(3.0), "meta": {"epoch": 2, "names": ["a", "b"], "t": (1, None)}}
    torch.save(state, plain)
    got = load_checkpoint_file(plain)
    assert torch.equal(got["w"], state["w"]) and got["meta"] == state["meta"]
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"not a file written by torch\.save"):
        load_checkpoint_file(text)


def test_build_with_weights_refuses_a_code_running_file(evil_checkpoint) -> None:
    import wavelet_networks as wn

    ckpt, witness = evil_checkpoint
    with pytest.raises(Exception) as info:
        wn.models.build("w-small-cnn", num_classes=10, weights=ckpt)
    assert not witness.exists()
    assert isinstance(info.value, ValueError) and "refused to load" in str(info.value)

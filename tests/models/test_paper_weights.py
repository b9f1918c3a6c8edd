"""Loading weights: the paper's layout for every model of the zoo, clear errors, no pickled code.

These tests need no fixtures: state dicts in the paper's layout are written from
the zoo's own models (renamed as the paper's code names its layers, checked
against names read off the paper's code below); ``test_golden.py`` loads the
paper's real files.
"""

from __future__ import annotations

import os

import pytest
import torch
from test_zoo import ZOO, n_out

from wavelet_networks.models import (
    PaperLayoutError,
    build,
    convert_paper_checkpoints,
    convert_paper_state_dict,
    paper_keys,
)
from wavelet_networks.models.paper import main as convert_main

# Keys of the paper's code (experiments/UrbanSound8K/models/*.py, MagnaTagATune/model.py),
# a few per model, including the models without golden fixtures.
PAPER_KEYS = {
    "m3": ["c1.weight", "c3.weight", "bn2.running_var"],
    "m18": ["c18.weight", "bn17.num_batches_tracked", "c2.weight"],
    "m34-res": ["c1.weight", "bn1.bias", "first_block.0.c1.weight", "sec_block.3.bn_out.weight",
                "thrd_block.5.c2.weight", "frth_block.2.bn2.running_mean", "c_out.weight"],
    "1d-cnn": ["c5.weight", "bn5.running_mean", "f1.weight", "f3.bias"],
    "samplecnn": ["conv1.0.weight", "conv1.0.bias", "conv1.1.running_var", "conv11.0.bias",
                  "fc.weight"],
    "w-m3": ["c1.weights", "c3.weights", "bn2.weight"],
    "w-m34-res": ["c1.weights", "first_block.0.c1.weights", "frth_block.2.bn_out.bias",
                  "c_out.weights"],
    "w-1d-cnn": ["c1.weights", "c5.weights", "bn5.weight", "f1.weight", "f3.bias"],
    "w-samplecnn": ["conv1.weights", "conv11.weights", "bn11.running_mean", "fc.bias"],
}  # fmt: skip


def paper_layout(model: torch.nn.Module, prefix: str = "module.") -> dict[str, torch.Tensor]:
    """The model's tensors under the paper's names, with the h_grid buffers the paper's files
    hold for every spline layer (the lifting grid 1, 2, ..., 256)."""
    own = model.state_dict()
    state = {prefix + k: v.clone() for k, v in zip(paper_keys(model), own.values(), strict=True)}
    for key in paper_keys(model):
        if key.endswith(".weights"):
            layer = key[: -len(".weights")]
            grid = torch.tensor([[2.0**j] for j in range(9)]) if layer in ("c1", "conv1") else (
                torch.ones(1, 1))  # fmt: skip
            state |= {prefix + layer + ".h_grid.grid": grid,
                      prefix + layer + ".h_grid.scale": torch.tensor(2.0),
                      prefix + layer + ".h_grid.H.e": torch.zeros(1)}  # fmt: skip
    return state


@pytest.mark.parametrize("name", sorted(PAPER_KEYS))
def test_paper_keys_are_the_paper_codes_names(name):
    keys = set(paper_keys(name))
    assert set(PAPER_KEYS[name]) <= keys
    # one paper key per tensor of ours
    with torch.device("meta"):
        assert len(keys) == len(build(name, n_out(name)).state_dict())


@pytest.mark.parametrize("name", ZOO)
@pytest.mark.parametrize("prefix", ["module.", ""])
def test_paper_layout_loads_into_every_model(name, prefix, tmp_path):
    source = build(name, n_out(name), **({"channels": 4} if name.startswith("w-") else {}))
    path = tmp_path / "model.pth"
    torch.save(paper_layout(source, prefix), path)
    loaded = build(name, n_out(name), weights=path,
                   **({"channels": 4} if name.startswith("w-") else {}))  # fmt: skip
    for (k, a), b in zip(source.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_missing_num_batches_tracked_is_filled():
    model = build("m5", 10)
    state = {k: v for k, v in paper_layout(model).items() if "num_batches_tracked" not in k}
    out = convert_paper_state_dict("m5", state)
    assert set(out) == set(model.state_dict())
    assert out["features.1.num_batches_tracked"] == 0


def test_wrong_model_names_missing_and_unexpected_keys(tmp_path):
    path = tmp_path / "w-m5.pth"
    torch.save(paper_layout(build("w-m5", 10, channels=4)), path)
    with pytest.raises(ValueError) as err:
        build("w-m11", 10, channels=4, weights=path)
    msg = str(err.value)
    assert "do not match the architecture of 'w-m11'" in msg
    # in the model's order: W-M11's layers after W-M5's last batch norm bn4
    assert "missing keys: bn5.weight, bn5.bias, bn5.running_mean, bn5.running_var, " in msg
    assert "c6.weights" in msg and "(30 in all)" in msg
    assert "mismatched: c3.weights: file (8, 4, 3, 3), model (4, 4, 1, 3)" in msg
    assert "fit 'w-m5' (the paper's layout)" in msg


def test_file_that_fits_no_model(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"encoder.weight": torch.zeros(3), "decoder.bias": torch.zeros(2)}, path)
    with pytest.raises(ValueError) as err:
        build("w-m5", 10, weights=path)
    msg = str(err.value)
    assert "missing keys: " in msg and "unexpected keys: decoder.bias, encoder.weight" in msg
    assert "fit no model of the zoo" in msg


def test_paper_layout_with_other_lifting_scales_is_refused():
    model = build("w-m5", 10, channels=4)
    state = paper_layout(model)
    state["module.c1.h_grid.grid"] = torch.tensor([[1.5**j] for j in range(9)])
    with pytest.raises(PaperLayoutError, match=r"c1.h_grid.grid: the file's lifting scales"):
        convert_paper_state_dict(model, state)


def test_paper_layout_with_other_classes_names_the_shape():
    state = paper_layout(build("w-1d-cnn", 10))
    with pytest.raises(PaperLayoutError, match=r"f3.weight: file \(10, 48\), model \(3, 48\)"):
        convert_paper_state_dict("w-1d-cnn", state, num_classes=3)


def test_models_outside_the_paper_have_no_paper_layout():
    with pytest.raises(PaperLayoutError, match="no counterpart in the paper's code"):
        paper_keys("small-cnn")


class _Payload:
    """Unpickling this object would create a file (a stand-in for arbitrary code)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_pickled_code_is_refused_before_it_runs(tmp_path):
    target = tmp_path / "created-by-unpickling"
    path = tmp_path / "evil.pt"
    torch.save({"features.0.weight": torch.zeros(1), "payload": _Payload(str(target))}, path)
    # the payload works: unpickling without weights_only creates the file
    torch.load(path, weights_only=False)
    assert target.exists()
    target.unlink()
    with pytest.raises(ValueError, match=r"refused to load .*weights_only"):
        build("m5", 10, weights=path)
    assert not target.exists()


def test_convert_a_folder_of_checkpoints(tmp_path):
    src = tmp_path / "saved"
    models = [build("w-1d-cnn", 10) for _ in range(2)]
    for i, m in enumerate(models):
        (src / f"run{i}").mkdir(parents=True)
        torch.save(paper_layout(m), src / f"run{i}" / "model.pth")
    written = convert_paper_checkpoints("w-1d-cnn", src, tmp_path / "zoo")
    assert written == [tmp_path / "zoo" / f"run{i}" / "model.pt" for i in range(2)]
    for m, path in zip(models, written, strict=True):
        loaded = build("w-1d-cnn", 10, weights=path)
        assert all(torch.equal(a, b) for a, b in
                   zip(m.state_dict().values(), loaded.state_dict().values(), strict=True))  # fmt: skip


def test_converting_stops_before_writing_when_one_file_does_not_fit(tmp_path):
    src = tmp_path / "saved"
    src.mkdir()
    torch.save(paper_layout(build("w-1d-cnn", 10)), src / "a.pth")
    torch.save(paper_layout(build("1d-cnn", 10)), src / "b.pth")
    with pytest.raises(PaperLayoutError, match=r"b\.pth"):
        convert_paper_checkpoints("w-1d-cnn", src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_convert_command_line(tmp_path, capsys):
    torch.save(paper_layout(build("m5", 10)), tmp_path / "model.pth")
    assert convert_main(["m5", str(tmp_path / "model.pth"), str(tmp_path / "m5.pt")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "m5.pt")
    build("m5", 10, weights=tmp_path / "m5.pt")
    assert convert_main(["w-m5", str(tmp_path / "model.pth"), str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "paper's layout of 'w-m5'" in err
    assert not os.path.exists(tmp_path / "x.pt")

"""Every zoo model exports (``torch.export``, and ONNX) on the reference path, and the exported
program computes what the model computes on its fast paths."""

from __future__ import annotations

import warnings

import pytest
import torch
from test_zoo import ZOO, n_out

import wavelet_networks as wn
from wavelet_networks.models import build, card

SMALL = {"channels": 4}  # wavelet nets: the reference path at full width is slow on a CPU


def _model_and_input(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = build(name, n_out(name), **(SMALL if name.startswith("w-") else {})).eval()
    length = model.min_length if model.max_length is None else card(name).input_length
    return model, torch.randn(2, 1, length)


def _close(got: torch.Tensor, want: torch.Tensor) -> None:
    assert got.shape == want.shape
    assert ((got - want).norm() / want.norm()).item() < 1e-5


@pytest.mark.parametrize("name", ZOO)
def test_torch_export_on_the_reference_path(name):
    model, x = _model_and_input(name)
    with wn.reference_mode():
        program = torch.export.export(model, (x,))
        got = program.module()(x)
    _close(got, model(x))


def _onnx(name: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model, x = _model_and_input(name)
    with wn.reference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exported = torch.onnx.export(model, (x,), dynamo=True, verbose=False)
    session = ort.InferenceSession(exported.model_proto.SerializeToString())
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    _close(torch.from_numpy(got), model(x))


def test_onnx_export_runs_in_onnxruntime():
    _onnx("w-m3")


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in ZOO if n != "w-m3"])
def test_onnx_export_of_every_zoo_model(name):
    _onnx(name)



def test_torch_compile_fullgraph_on_the_reference_path():
    """A whole model traces into one graph on the reference path (graph breaks raise)."""
    model, x = _model_and_input("w-m3")
    torch._dynamo.reset()
    with wn.reference_mode():
        got = torch.compile(model, fullgraph=True, backend="aot_eager")(x)
    _close(got, model(x))

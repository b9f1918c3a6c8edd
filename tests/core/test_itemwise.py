"""The group convolution that smooths after the channel mixing, one batch item per thread."""

import pytest
import torch

from wavelet_networks import functional as WF
from wavelet_networks.functional import _autotune, _threads, conv, itemwise

# every test of the taps runs on both paths functional._autotune chooses between (oneDNN's
# only takes float32: in float64 both run MKL's)
TAPS_PATHS = {"mkl": 0, "onednn": 1}


@pytest.fixture(params=list(TAPS_PATHS))
def taps_path(request):
    with _autotune.forced(TAPS_PATHS[request.param]):
        yield request.param


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("m", [1, 2, 3])
@pytest.mark.parametrize("boundary", ["crop", "truncate"])
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("base, order", [(2, 2), (2, 1), (3, 2), (2, 3)])
def test_equals_the_direct_formula(m, boundary, padding, base, order, taps_path):
    gen = torch.Generator().manual_seed(m + base + order)
    x = torch.randn(3, 4, 5, 1500, generator=gen, dtype=torch.float64)  # valid at base 3
    w = torch.randn(6, 4, m, 3, generator=gen, dtype=torch.float64)
    g = None
    out = {}
    for name, fn in (
        ("itemwise", lambda x, w: itemwise.group_conv(x, w, base, order, boundary, padding)),
        ("direct", lambda x, w: WF.group_conv1d(
            x, w, float(base), order, boundary, padding=padding, method="direct"
        )),
    ):  # fmt: skip
        xr, wr = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
        y = fn(xr, wr)
        g = torch.randn(y.shape, generator=gen, dtype=y.dtype) if g is None else g
        out[name] = (y, *torch.autograd.grad(y, [xr, wr], g))
    for a, b in zip(out["itemwise"], out["direct"], strict=True):
        assert a.shape == b.shape
        assert rel_err(a, b) < 1e-12


def test_float32_agrees_with_the_input_side_form_to_1e_5(taps_path):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 40, 7, 1500, generator=gen)
    w = torch.randn(20, 40, 3, 3, generator=gen)
    y = itemwise.group_conv(x, w, 2, 2, "crop", "same")
    with torch.no_grad():
        ref = WF.group_conv1d(x.double(), w.double(), 2.0, method="direct")
    assert rel_err(y.double(), ref) < 1e-5


@pytest.mark.parametrize("m, boundary, padding", [(1, "crop", "same"), (3, "truncate", "valid"), (2, "crop", "valid")])
def test_float32_values_and_gradients_agree_to_1e_5(m, boundary, padding, taps_path):
    gen = torch.Generator().manual_seed(m)
    x = torch.randn(2, 5, 6, 700, generator=gen)
    w = torch.randn(7, 5, m, 3, generator=gen)
    g = None
    out = {}
    for name, dtype in (("float32", torch.float32), ("float64", torch.float64)):
        xr = x.to(dtype).requires_grad_(True)
        wr = w.to(dtype).requires_grad_(True)
        y = itemwise.group_conv(xr, wr, 2, 2, boundary, padding)
        g = torch.randn(y.shape, generator=gen, dtype=torch.float64) if g is None else g
        out[name] = (y, *torch.autograd.grad(y, [xr, wr], g.to(dtype)))
    for a, b in zip(out["float32"], out["float64"], strict=True):
        assert rel_err(a.double(), b) < 1e-5


def test_gradcheck(taps_path):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 2, 3, 40, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w: itemwise.group_conv(x, w, 2, 2, "truncate", "same"), (x, w), fast_mode=True
    )


def test_weight_only_and_input_only_gradients(taps_path):
    x = torch.randn(2, 3, 4, 200, dtype=torch.float64)
    w = torch.randn(5, 3, 2, 3, dtype=torch.float64)
    (gw,) = torch.autograd.grad(
        itemwise.group_conv(x, w.requires_grad_(True), 2, 2, "crop", "same").sum(), [w]
    )
    (gx,) = torch.autograd.grad(
        itemwise.group_conv(x.requires_grad_(True), w.detach(), 2, 2, "crop", "same").sum(), [x]
    )
    assert gw.shape == w.shape and gx.shape == x.shape
    assert gw.abs().sum() > 0 and gx.abs().sum() > 0


def _calls(monkeypatch):
    calls = []
    original = itemwise.group_conv
    monkeypatch.setattr(itemwise, "group_conv", lambda *a: calls.append(a) or original(*a))
    return calls


def test_group_conv1d_takes_it_where_it_measured_faster(monkeypatch):
    monkeypatch.setattr(_threads, "MIN_ITEM", 0)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    calls = _calls(monkeypatch)
    x, w = torch.randn(2, 16, 5, 300), torch.randn(8, 16, 3, 3)
    y = WF.group_conv1d(x, w, 2.0)
    assert len(calls) == 1
    with torch.no_grad():
        torch.testing.assert_close(y, WF.group_conv1d(x, w, 2.0, method="direct"))
    # not for one time tap, a stride, a non-integer base, or few channels
    WF.group_conv1d(x, torch.randn(8, 16, 3, 1), 2.0)
    WF.group_conv1d(x, torch.randn(8, 16, 1, 3), 2.0)  # C_in M = 16 < PRODUCT_CHANNELS
    WF.group_conv1d(x, w, 2.0, stride=2)
    WF.group_conv1d(x, w, 1.5)
    assert len(calls) == 1
    monkeypatch.setattr(conv, "ITEMWISE", False)
    WF.group_conv1d(x, w, 2.0)
    assert len(calls) == 1


def test_not_on_one_thread_or_one_item(monkeypatch):
    monkeypatch.setattr(_threads, "MIN_ITEM", 0)
    calls = _calls(monkeypatch)
    x, w = torch.randn(2, 16, 5, 300), torch.randn(8, 16, 3, 3)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    WF.group_conv1d(x, w, 2.0)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    WF.group_conv1d(x[:1], w, 2.0)
    assert not calls

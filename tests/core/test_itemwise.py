"""The group convolution that smooths after the channel mixing, on either product it can choose."""

import pytest
import torch

from wavelet_networks.functional import reference
from wavelet_networks.functional.fast import _autotune, itemwise

# every test runs on both products functional.fast._autotune chooses between (oneDNN's only
# takes float32: in float64 both run MKL's)
TAPS_PATHS = {"mkl": 0, "onednn": 1}


@pytest.fixture(params=list(TAPS_PATHS))
def taps_path(request):
    with _autotune.forced(TAPS_PATHS[request.param]):
        yield request.param


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def conv(x, w, base=2, order=2, boundary="crop", padding="same"):
    return itemwise.group_conv1d(x, w, float(base), spline_order=order, scale_boundary=boundary,
                                 padding=padding)  # fmt: skip


@pytest.mark.parametrize("m, boundary, padding", [(1, "crop", "same"), (3, "truncate", "valid"),
                                                  (2, "crop", "valid")])  # fmt: skip
def test_float32_values_and_gradients_agree_with_float64_to_1e_5(m, boundary, padding, taps_path):
    gen = torch.Generator().manual_seed(m)
    x = torch.randn(2, 5, 6, 700, generator=gen)
    w = torch.randn(7, 5, m, 3, generator=gen)
    g = None
    out = {}
    for name, dtype in (("float32", torch.float32), ("float64", torch.float64)):
        xr = x.to(dtype).requires_grad_(True)
        wr = w.to(dtype).requires_grad_(True)
        y = conv(xr, wr, boundary=boundary, padding=padding)
        g = torch.randn(y.shape, generator=gen, dtype=torch.float64) if g is None else g
        out[name] = (y, *torch.autograd.grad(y, [xr, wr], g.to(dtype)))
    with torch.no_grad():
        ref = reference.group_conv1d(x.double(), w.double(), scale_boundary=boundary,
                                     padding=padding)  # fmt: skip
    assert rel_err(out["float64"][0], ref) < 1e-12
    for a, b in zip(out["float32"], out["float64"], strict=True):
        assert rel_err(a.double(), b) < 1e-5


def test_gradcheck(taps_path):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 2, 3, 40, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w: conv(x, w, boundary="truncate"), (x, w), fast_mode=True
    )


def test_weight_only_and_input_only_gradients(taps_path):
    x = torch.randn(2, 3, 4, 200, dtype=torch.float64)
    w = torch.randn(5, 3, 2, 3, dtype=torch.float64)
    (gw,) = torch.autograd.grad(conv(x, w.requires_grad_(True)).sum(), [w])
    (gx,) = torch.autograd.grad(conv(x.requires_grad_(True), w.detach()).sum(), [x])
    assert gw.shape == w.shape and gx.shape == x.shape
    assert gw.abs().sum() > 0 and gx.abs().sum() > 0

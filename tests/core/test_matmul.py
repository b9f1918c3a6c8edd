"""Dense products by MKL or oneDNN, and the fused lifting on each."""

import pytest
import torch

import wavelet_networks as wn
from wavelet_networks.functional.fast import _autotune, _matmul

needs_onednn = pytest.mark.skipif(
    not _matmul.onednn_available(torch.zeros(1)), reason="torch built without oneDNN"
)


@needs_onednn
@pytest.mark.parametrize("path", [0, 1])
@pytest.mark.parametrize("m, k, n", [(2048, 86, 408), (37, 10, 720), (1, 5, 3)])
def test_both_products_equal_torch_mm(path, m, k, n):
    gen = torch.Generator().manual_seed(m)
    x, t = torch.randn(m, k, generator=gen), torch.randn(k, n, generator=gen)
    buf = torch.full((m * n + 11,), float("nan"))
    with _autotune.forced(path):
        y = _matmul.mm(x, t, _matmul.onednn_weight(t), buf, "test")
    ref = x.double() @ t.double()
    assert y.shape == (m, n)
    assert ((y.double() - ref).norm() / ref.norm()).item() < 1e-6
    assert (y.data_ptr() == buf.data_ptr()) == (path == 0)  # MKL's writes into the buffer


def test_float64_and_no_onednn_weight_take_mkl():
    x, t = torch.randn(5, 4, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    assert _matmul.onednn_weight(t) is None and not _matmul.onednn_available(x)
    buf = torch.empty(15, dtype=torch.float64)
    with _autotune.forced(1):
        y = _matmul.mm(x, t, None, buf, "test")
    assert y.data_ptr() == buf.data_ptr()
    torch.testing.assert_close(y, x @ t)


@needs_onednn
@pytest.mark.parametrize("path", [0, 1])
def test_fused_stem_agrees_with_its_layers_on_either_product(path):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 3000, generator=gen)
    stem = wn.nn.LiftingStem(1, 6, 9, 5, (4, 4))
    weight = stem[0].conv.weight
    with _autotune.forced(path):
        y = stem(x)
        (gw,) = torch.autograd.grad(y.square().sum(), [weight])
    ref = torch.nn.Sequential.forward(stem, x)  # the layers one after another
    (gref,) = torch.autograd.grad(ref.square().sum(), [weight])
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gw, gref, rtol=1e-4, atol=1e-4)

"""Batch norm, ReLU and time max pool fused, against the three layers one after the other."""

import pytest
import torch
import torch.nn.functional as F

import wavelet_networks as wn
from wavelet_networks import functional as WF
from wavelet_networks.functional import _native, norm_pool
from wavelet_networks.nn.norm import run_fused

needs_library = pytest.mark.skipif(
    _native.library() is None, reason="no working C compiler: the compiled loops are unavailable"
)


@pytest.fixture
def fused_always(monkeypatch):
    monkeypatch.setattr(norm_pool, "POOL_MIN_ITEM", 0)


def layers(x, mean, var, gamma, beta, training, pool, momentum=0.1, eps=1e-5):
    y = F.batch_norm(x, mean, var, gamma, beta, training, momentum, eps)
    return torch.nn.functional.max_pool2d(F.relu(y), (1, pool))


def run(fn, x, gamma, beta, mean, var, training, pool):
    x = x.clone().requires_grad_(True)
    params = [t.clone().requires_grad_(True) if t is not None else None for t in (gamma, beta)]
    mean, var = (None, None) if mean is None else (mean.clone(), var.clone())
    y = fn(x, mean, var, *params, training, pool)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(5), dtype=y.dtype)
    wanted = [x, *(p for p in params if p is not None)]
    return y, torch.autograd.grad(y, wanted, g), (mean, var)


@needs_library
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("pool, time", [(4, 403), (3, 300), (2, 11)])
@pytest.mark.parametrize("affine", [True, False])
def test_equals_the_layers(fused_always, training, dtype, pool, time, affine):
    gen = torch.Generator().manual_seed(pool + time)
    x = torch.randn(3, 6, 4, time, generator=gen, dtype=dtype) * 2 + 1
    x = torch.round(x * 2) / 2  # ties within windows
    gamma = beta = None
    if affine:  # a negative and a zero scale: the pool takes the minimum, the first entry
        gamma = torch.rand(6, generator=gen, dtype=dtype) + 0.5
        gamma[0], gamma[1] = -0.7, 0.0
        beta = torch.randn(6, generator=gen, dtype=dtype) * 0.3
    mean = torch.randn(6, generator=gen, dtype=dtype) * 0.1
    var = torch.rand(6, generator=gen, dtype=dtype) + 0.5

    def fused(x, m, v, g, b, training, pool):
        return WF.batch_norm_relu_pool(x, m, v, g, b, training, 0.1, 1e-5, pool)

    got, got_grads, got_stats = run(fused, x, gamma, beta, mean, var, training, pool)
    want, want_grads, want_stats = run(layers, x, gamma, beta, mean, var, training, pool)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=tol, atol=tol)
    for a, b in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol * b.abs().max().item())
    for a, b in zip(got_stats, want_stats, strict=True):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@needs_library
def test_without_running_statistics(fused_always):
    x = torch.randn(2, 3, 2, 64, dtype=torch.float64)
    got = WF.batch_norm_relu_pool(x, None, None, None, None, False, 0.1, 1e-5, 4)
    torch.testing.assert_close(got, layers(x, None, None, None, None, True, 4))


@needs_library
def test_gradcheck(fused_always):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 2, 2, 16, generator=gen, dtype=torch.float64, requires_grad=True)
    gamma = torch.tensor([0.8, -1.2], dtype=torch.float64, requires_grad=True)
    beta = torch.tensor([0.1, 0.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, g, b: WF.batch_norm_relu_pool(x, None, None, g, b, True, 0.1, 1e-5, 4),
        (x, gamma, beta),
    )


def test_small_items_run_the_three_operations(monkeypatch):
    calls = []
    original = norm_pool._BatchNormReLUPool.apply
    monkeypatch.setattr(
        norm_pool._BatchNormReLUPool, "apply", lambda *a: calls.append(1) or original(*a)
    )
    x = torch.randn(2, 3, 2, 40)
    got = WF.batch_norm_relu_pool(x, None, None, None, None, True, 0.1, 1e-5, 4)
    assert not calls  # below POOL_MIN_ITEM
    torch.testing.assert_close(got, layers(x, None, None, None, None, True, 4))
    monkeypatch.setattr(norm_pool, "POOL_MIN_ITEM", 0)
    WF.batch_norm_relu_pool(x, None, None, None, None, True, 0.1, 1e-5, 4)
    assert bool(calls) == (_native.library() is not None)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_w_mnet_forward_equals_its_layers_in_a_row(fused_always, monkeypatch, momentum):
    """The model's values, gradients and running statistics do not change with the fusion."""
    calls = []
    original = norm_pool._BatchNormReLUPool.apply
    monkeypatch.setattr(
        norm_pool._BatchNormReLUPool, "apply", lambda *a: calls.append(1) or original(*a)
    )
    torch.manual_seed(0)
    model = wn.models.build("w-m5", 10, channels=4)
    twin = wn.models.build("w-m5", 10, channels=4)
    twin.load_state_dict(model.state_dict())
    for m in [*model.modules(), *twin.modules()]:
        if isinstance(m, wn.nn.GroupBatchNorm):
            m.momentum = momentum
    twin.features.forward = lambda x: torch.nn.Sequential.forward(twin.features, x)
    x = torch.randn(2, 1, 9000)
    ya, yb = model(x), twin.scale_pool(twin.head(twin.features(x).mean(-1, keepdim=True))).flatten(1)
    torch.testing.assert_close(ya, yb)
    assert len(calls) == (3 if _native.library() is not None else 0)  # W-M5's three stages
    ga = torch.autograd.grad(ya.sum(), list(model.parameters()))
    gb = torch.autograd.grad(yb.sum(), list(twin.parameters()))
    for a, b in zip(ga, gb, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    for (name, a), b in zip(model.state_dict().items(), twin.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)


def test_run_fused_leaves_hooked_layers_alone(fused_always):
    bn, relu, pool = wn.nn.GroupBatchNorm(3), torch.nn.ReLU(), wn.nn.TimeMaxPool(4)
    seen = []
    bn.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    x = torch.randn(2, 3, 2, 64)
    torch.testing.assert_close(run_fused([bn, relu, pool], x), pool(relu(bn(x))))
    assert len(seen) == 2  # once in run_fused, once in the comparison

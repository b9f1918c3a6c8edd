"""Batch norm, ReLU and time max pool fused: where it runs, and inside a W-M-net.

Its values, gradients and running statistics against the reference, drawn over
shapes, pools and batch-norm parameters: ``test_implementations.py``.
"""

import pytest
import torch
import torch.nn.functional as F

import wavelet_networks as wn
from wavelet_networks import functional as WF
from wavelet_networks.functional.fast import _native, norm_pool
from wavelet_networks.nn.norm import run_fused

needs_library = pytest.mark.skipif(
    _native.library() is None, reason="no working C compiler: the compiled loops are unavailable"
)


@pytest.fixture
def fused_always():
    with wn.configure(pool_min_item=0):
        yield


def layers(x, mean, var, gamma, beta, training, pool, momentum=0.1, eps=1e-5):
    y = F.batch_norm(x, mean, var, gamma, beta, training, momentum, eps)
    return torch.nn.functional.max_pool2d(F.relu(y), (1, pool))


@needs_library
def test_without_running_statistics(fused_always):
    x = torch.randn(2, 3, 2, 64, dtype=torch.float64)
    got = WF.batch_norm_relu_pool(x, None, None, None, None, False, 0.1, 1e-5, 4)
    torch.testing.assert_close(got, layers(x, None, None, None, None, True, 4))


def test_small_items_run_the_three_operations(monkeypatch):
    calls = []
    original = norm_pool._BatchNormReLUPool.apply
    monkeypatch.setattr(
        norm_pool._BatchNormReLUPool, "apply", lambda *a: calls.append(1) or original(*a)
    )
    x = torch.randn(2, 3, 2, 40)
    got = WF.batch_norm_relu_pool(x, None, None, None, None, True, 0.1, 1e-5, 4)
    assert not calls  # below pool_min_item
    torch.testing.assert_close(got, layers(x, None, None, None, None, True, 4))
    with wn.configure(pool_min_item=0):
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

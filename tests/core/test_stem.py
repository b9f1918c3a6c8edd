"""The fused stem (lifting, P1, batch norm, ReLU, P2): ties, where it runs, errors, the module.

Its values, gradients and running statistics against the reference, drawn over
shapes, pools, scales and batch-norm parameters: ``test_implementations.py``.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import wavelet_networks as wn
from wavelet_networks import functional as WF
from wavelet_networks.functional.fast import stem as stem_module


def unfused(x, w, grid, pools, mean, var, gamma, beta, training, momentum=0.1, eps=1e-5, **kw):
    y = WF.lifting_conv1d(x, w, grid, method="direct", **kw)
    y = WF.time_max_pool(y, pools[0])
    y = F.batch_norm(y, mean, var, gamma, beta, training, momentum, eps)
    return WF.time_max_pool(F.relu(y), pools[1])


def run(fn, x, w, gamma, beta, mean, var, training, seed=0, **kw):
    """Output, gradients (weight, gamma, beta) and the running statistics after one call."""
    w, gamma, beta = (t.clone().requires_grad_(True) for t in (w, gamma, beta))
    mean, var = mean.clone(), var.clone()
    y = fn(x, w, mean, var, gamma, beta, training, **kw)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    grads = torch.autograd.grad(y, [w, gamma, beta], g)
    return y, grads, (mean, var)


def params(c_out, c_in, k, dtype, gen, negative=True):
    w = torch.randn(c_out, c_in, k, generator=gen, dtype=dtype)
    gamma = torch.rand(c_out, generator=gen, dtype=dtype) + 0.5
    if negative:  # a negative and a zero scale: the second pool must take the minimum there
        gamma[0], gamma[-1] = -0.8, 0.0
    beta = torch.randn(c_out, generator=gen, dtype=dtype) * 0.3
    mean = torch.randn(c_out, generator=gen, dtype=dtype) * 0.1
    var = torch.rand(c_out, generator=gen, dtype=dtype) + 0.5
    return w, gamma, beta, mean, var


def test_fused_stem_with_ties_routes_gradients_like_max_pool():
    # silence (zeros) makes every lifting output in a window equal: ties at both pools
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 1, 600, generator=gen, dtype=torch.float64)
    x[:, :, 100:400] = 0
    w, gamma, beta, mean, var = params(4, 1, 5, torch.float64, gen)
    grid = wn.ScaleGrid(3)

    def fused(x, w, mean, var, gamma, beta, training):
        return WF.lifting_stem(x, w, grid, (4, 4), mean, var, gamma, beta, training)

    def layers(x, w, mean, var, gamma, beta, training):
        return unfused(x, w, grid, (4, 4), mean, var, gamma, beta, training)

    got, got_grads, _ = run(fused, x, w, gamma, beta, mean, var, True)
    want, want_grads, _ = run(layers, x, w, gamma, beta, mean, var, True)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    for a, b in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def _count_fused(monkeypatch) -> list[int]:
    calls = []
    apply = stem_module._LiftingStem.apply
    monkeypatch.setattr(
        stem_module._LiftingStem, "apply", lambda *a: calls.append(1) or apply(*a)
    )
    return calls


def test_fused_path_runs_and_falls_back(monkeypatch):
    calls = _count_fused(monkeypatch)
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(1, 1, 300, generator=gen)
    w, gamma, beta, mean, var = params(3, 1, 5, torch.float32, gen)
    grid = wn.ScaleGrid(3)
    stem = WF.lifting_stem
    assert stem.chosen(x, w, grid, (4, 4), mean, var, gamma, beta, True) == "fused"
    stem(x, w, grid, (4, 4), mean, var, gamma, beta, True)
    assert len(calls) == 1
    # an input that needs a gradient, a 1-tap kernel, a non-integer base: the layers run
    x.requires_grad_()
    assert stem.chosen(x, w, grid, (4, 4), mean, var, gamma, beta) == "unfused"
    got = stem(x, w, grid, (4, 4), mean.clone(), var, gamma, beta)
    want = unfused(x.detach(), w, grid, (4, 4), mean, var, gamma, beta, False)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    x = x.detach()
    assert stem.chosen(x, w[..., :1], grid, (4, 4), mean, var, gamma, beta) == "unfused"
    assert stem.chosen(x, w, wn.ScaleGrid(3, 1.5), (4, 4), mean, var, gamma, beta) == "unfused"
    stem(x, w[..., :1], grid, (4, 4), mean, var, gamma, beta)
    stem(x, w, wn.ScaleGrid(3, 1.5), (4, 4), mean, var, gamma, beta)
    assert len(calls) == 1


@pytest.mark.parametrize(
    "pools, message",
    [((4,), "two pool sizes"), ((4, 0), "pool_sizes"), ((0, 4), "pool_sizes")],
)
def test_lifting_stem_rejects_bad_pools(pools, message):
    x, w = torch.randn(1, 1, 100), torch.randn(3, 1, 5)
    with pytest.raises(ValueError, match=message):
        WF.lifting_stem(x, w, wn.ScaleGrid(3), pools, None, None)


@pytest.mark.parametrize("which", ["weight", "bn_weight", "bn_bias", "running_mean", "running_var"])
def test_lifting_stem_rejects_mixed_dtypes(which):
    """As batch norm does; the compiled loops would read a float64 tensor as float32."""
    args = {"weight": torch.randn(3, 1, 5), "bn_weight": torch.ones(3), "bn_bias": torch.zeros(3),
            "running_mean": torch.zeros(3), "running_var": torch.ones(3)}  # fmt: skip
    args[which] = args[which].double()
    with pytest.raises(ValueError, match=f"{which} must have the signal's dtype"):
        WF.lifting_stem(torch.randn(1, 1, 100), scales=wn.ScaleGrid(3), pool_sizes=(4, 4), **args)


def test_lifting_stem_rejects_bad_shapes():
    with pytest.raises(ValueError, match="channels"):
        WF.lifting_stem(torch.randn(1, 2, 100), torch.randn(3, 1, 5), wn.ScaleGrid(3), (4, 4),
                        None, None)  # fmt: skip


# --------------------------------------------------------------------------- the module
def _pair(seed=7, **kw):
    torch.manual_seed(seed)
    stem = wn.nn.LiftingStem(1, 4, 7, 4, **kw)
    with torch.no_grad():
        stem[1].weight.uniform_(-1, 1.5)
        stem[1].bias.uniform_(-0.5, 0.5)
    layers = nn.Sequential(*[m for m in stem])  # the same modules, run one after the other
    return stem, layers


def _step(module, x, seed=0):
    for p in module.parameters():
        p.grad = None
    y = module(x)
    y.backward(torch.randn(y.shape, generator=torch.Generator().manual_seed(seed)))
    return y.detach(), [p.grad.clone() for p in module.parameters()]


@pytest.mark.parametrize("momentum", [0.1, None])
def test_lifting_stem_module_equals_its_children(monkeypatch, momentum):
    calls = _count_fused(monkeypatch)
    stem, layers = _pair(momentum=momentum)
    x = torch.randn(3, 1, 800)
    state = {k: v.clone() for k, v in stem.state_dict().items()}
    got = [_step(stem, x, seed) for seed in range(2)]  # two steps: the running average
    got_state = {k: v.clone() for k, v in stem.state_dict().items()}
    stem.load_state_dict(state)
    want = [_step(layers, x, seed) for seed in range(2)]
    assert len(calls) == 2
    for (y, grads), (y_ref, grads_ref) in zip(got, want, strict=True):
        torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
        for a, b in zip(grads, grads_ref, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item())
    for key, value in stem.state_dict().items():
        torch.testing.assert_close(got_state[key], value, rtol=1e-5, atol=1e-6, msg=key)
    stem.eval()
    layers.eval()
    torch.testing.assert_close(stem(x), layers(x), rtol=1e-5, atol=1e-5)
    assert len(calls) == 3


def test_lifting_stem_keeps_the_layers_parameters_and_shapes():
    stem = wn.nn.LiftingStem(1, 51, 79, 9, (4, 4), eps=2e-5)
    assert isinstance(stem[0], wn.nn.LiftingConvMaxPool1d)
    assert stem[1].eps == 2e-5
    assert sum(p.numel() for p in stem.parameters()) == 51 * 79 + 2 * 51
    assert stem(torch.randn(2, 1, 1600)).shape == (2, 51, 9, 100)


def test_lifting_stem_with_dropout_runs_the_layers_while_training(monkeypatch):
    calls = _count_fused(monkeypatch)
    stem, layers = _pair(dropout=0.3)
    assert isinstance(stem[3], nn.Dropout)
    x = torch.randn(2, 1, 600)
    torch.manual_seed(0)
    got = stem(x)
    stem.load_state_dict(stem.state_dict())
    torch.manual_seed(0)
    for m in layers:  # undo the first call's running-statistics update
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
    want = layers(x)
    torch.testing.assert_close(got, want)
    assert not calls
    stem.eval()
    stem(x)
    assert len(calls) == 1  # dropout is the identity in evaluation


def test_lifting_stem_with_a_replaced_child_runs_the_children(monkeypatch):
    calls = _count_fused(monkeypatch)
    stem, _ = _pair()
    stem[2] = nn.GELU()
    x = torch.randn(2, 1, 600)
    y = stem(x)
    want = nn.Sequential(*stem)(x)  # batch statistics: the same output twice
    torch.testing.assert_close(y, want)
    assert not calls


@pytest.mark.parametrize("kw, message", [({"pool_sizes": (4,)}, "two pool sizes"),
                                         ({"dropout": 1.0}, "dropout")])  # fmt: skip
def test_lifting_stem_rejects_bad_arguments(kw, message):
    with pytest.raises(ValueError, match=message):
        wn.nn.LiftingStem(1, 4, 7, 4, **kw)

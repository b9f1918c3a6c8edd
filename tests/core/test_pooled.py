"""The fused lifting + max pool, and the compiled max pool: where they run, ties, threads, errors.

Their values and gradients against the reference: ``test_implementations.py``.
"""

import pytest
import torch
from torch import nn

import wavelet_networks as wn
from wavelet_networks import functional as WF
from wavelet_networks.functional import reference
from wavelet_networks.functional.fast import _native


def reference_pooled(x, weight, grid, pool, bias=None, padding="same"):
    return reference.lifting_conv_max_pool1d(x, weight, grid, pool, bias, padding=padding)


def outputs_and_weight_grads(fn, x, weight, bias, seed=0):
    w = weight.clone().requires_grad_(True)
    b = None if bias is None else bias.clone().requires_grad_(True)
    y = fn(x, w, b)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    grads = torch.autograd.grad(y, [w] if b is None else [w, b], g)
    return y, grads


def test_ties_send_the_gradient_to_the_first_maximum_like_max_pool():
    # A constant signal makes every window of the interior a four-way tie.
    x = torch.ones(1, 1, 512, dtype=torch.float64)
    weight = torch.randn(3, 1, 5, dtype=torch.float64)
    grid = wn.ScaleGrid(4)
    assert WF.lifting_conv_max_pool1d.chosen(x, weight, grid, 4) == "fused"
    got, (g1,) = outputs_and_weight_grads(
        lambda x, w, b: WF.lifting_conv_max_pool1d(x, w, grid, 4), x, weight, None
    )
    want, (g2,) = outputs_and_weight_grads(
        lambda x, w, b: reference_pooled(x, w, grid, 4), x, weight, None
    )
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(g1, g2)


@pytest.mark.parametrize(
    "case",
    ["input requires grad", "base sqrt 2", "one tap", "pool 1", "pool 300", "meta device"],
)
def test_the_layers_one_after_the_other_where_the_fusion_does_not_apply(case):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 400, generator=gen, dtype=torch.float64)
    weight = torch.randn(3, 1, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    grid, pool = wn.ScaleGrid(3), 4
    if case == "input requires grad":
        x.requires_grad_(True)
    elif case == "pool 300":
        pool = 300
    elif case == "base sqrt 2":
        grid = wn.ScaleGrid(3, base=2**0.5)
    elif case == "one tap":
        weight = torch.randn(3, 1, 1, generator=gen, dtype=torch.float64, requires_grad=True)
    elif case == "pool 1":
        pool = 1
    else:
        x, weight = x.to("meta"), weight.detach().to("meta")
    assert WF.lifting_conv_max_pool1d.chosen(x, weight, grid, pool) == "unfused"
    got = WF.lifting_conv_max_pool1d(x, weight, grid, pool)
    if case == "meta device":
        assert got.shape == (2, 3, 3, 100)
        return
    want = reference_pooled(x, weight, grid, pool)
    torch.testing.assert_close(got, want)
    if x.requires_grad:
        (gx,) = torch.autograd.grad(got.sum(), x)
        (wx,) = torch.autograd.grad(want.sum(), x)
        torch.testing.assert_close(gx, wx)


def test_module_equals_the_sequential_it_replaces():
    torch.manual_seed(0)
    fused = wn.nn.LiftingConvMaxPool1d(1, 4, 9, 5, pool_size=4, bias=True)
    plain = nn.Sequential(wn.nn.LiftingConv1d(1, 4, 9, 5, bias=True), wn.nn.TimeMaxPool(4))
    plain[0].load_state_dict(fused.conv.state_dict())
    assert set(fused.state_dict()) == {"conv.weight", "conv.bias"}
    x = torch.randn(2, 1, 1000)
    torch.testing.assert_close(fused(x), plain(x))
    fused(x).square().sum().backward()
    plain(x).square().sum().backward()
    torch.testing.assert_close(fused.conv.weight.grad, plain[0].weight.grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pool_size": 0}, "pool_size"),
        ({"weight": torch.randn(3, 5)}, "3 dimensions"),
        ({"x": torch.randn(2, 300)}, "3 dimensions"),
        ({"x": torch.randn(2, 2, 300)}, "channels"),
        ({"padding": "full"}, "padding"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    args = {"x": torch.randn(2, 1, 300), "weight": torch.randn(3, 1, 5), "pool_size": 4}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        WF.lifting_conv_max_pool1d(args["x"], args["weight"], wn.ScaleGrid(3), args["pool_size"],
                                   padding=args.get("padding", "same"))  # fmt: skip


@pytest.mark.gpu
def test_module_on_cuda_matches_the_cpu_result():
    torch.manual_seed(0)
    layer = wn.nn.LiftingConvMaxPool1d(1, 4, 9, 5, pool_size=4)
    x = torch.randn(2, 1, 2000)
    want = layer(x)
    got = layer.cuda()(x.cuda())
    torch.testing.assert_close(got.cpu(), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_fused_result_and_torch_threads_do_not_depend_on_the_worker_threads(threads):
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(3, 1, 900, generator=gen)
    weight = torch.randn(4, 1, 9, generator=gen)
    grid = wn.ScaleGrid(5)
    want, want_grads = outputs_and_weight_grads(
        lambda x, w, b: reference_pooled(x, w, grid, 4), x, weight, None
    )
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got, got_grads = outputs_and_weight_grads(
            lambda x, w, b: WF.lifting_conv_max_pool1d(x, w, grid, 4), x, weight, None
        )
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * want.abs().max().item())
    torch.testing.assert_close(
        got_grads[0], want_grads[0], rtol=1e-5, atol=1e-5 * want_grads[0].abs().max().item()
    )


# --------------------------------------------------------------------------- compiled max pool
@pytest.mark.parametrize("kernel, time", [(4, 1000), (3, 1001), (2, 7), (5, 23)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_time_max_pool_equals_max_pool2d_with_nans_and_strides(kernel, time, dtype):
    """Values (NaN wins) and gradients (ties: to the first) exactly those of max_pool2d."""
    if _native.library() is None:
        pytest.skip("no working C compiler: the compiled loops are unavailable")
    gen = torch.Generator().manual_seed(kernel * time)
    x = torch.round(torch.randn(3, 4, 5, time, generator=gen, dtype=dtype) * 2)  # ties
    x.view(-1)[torch.randperm(x.numel(), generator=gen)[:15]] = float("nan")
    out = {}
    with wn.configure(pool_min_item=0):
        for name, fn in (
            ("compiled", lambda v: WF.time_max_pool(v, kernel)),
            ("max_pool2d", lambda v: torch.nn.functional.max_pool2d(v, (1, kernel))),
        ):
            xr = x.clone().transpose(1, 2).requires_grad_(True)  # a strided input
            assert name != "compiled" or WF.time_max_pool.chosen(xr, kernel) == "compiled"
            y = fn(xr)
            g = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
            out[name] = y, torch.autograd.grad(y, xr, g)[0]
    torch.testing.assert_close(out["compiled"][0], out["max_pool2d"][0], rtol=0, atol=0, equal_nan=True)
    assert torch.equal(out["compiled"][1], out["max_pool2d"][1])


def test_compiled_time_max_pool_is_used_for_large_items_of_non_overlapping_windows():
    item = wn.settings.current().pool_min_item
    large = torch.empty(2, 2, 2, item // 4)
    pool = WF.time_max_pool
    assert pool.chosen(large, 4) == ("compiled" if _native.library() is not None else "reference")
    assert pool.chosen(large[..., :100], 4) == "reference"
    assert pool.chosen(large, 4, stride=2) == "reference"
    assert pool.chosen(large, 4, padding=1) == "reference"
    with wn.configure(native=False):
        assert pool.chosen(large, 4) == "reference"

"""The fused lifting + max pool against the two operations one after the other."""

import pytest
import torch
from torch import nn

import wavelet_networks as wn
from wavelet_networks import functional as WF
from wavelet_networks.functional import pooled
from wavelet_networks.functional._threads import split_batch


def reference(x, weight, grid, pool, bias=None, padding="same"):
    y = WF.lifting_conv1d(x, weight, grid, bias=bias, padding=padding, method="direct")
    return WF.time_max_pool(y, pool)


def outputs_and_weight_grads(fn, x, weight, bias, seed=0):
    w = weight.clone().requires_grad_(True)
    b = None if bias is None else bias.clone().requires_grad_(True)
    y = fn(x, w, b)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    grads = torch.autograd.grad(y, [w] if b is None else [w, b], g)
    return y, grads


@pytest.mark.parametrize(
    "batch, c_in, time, c_out, k, num_scales, pool, padding",
    [
        (2, 1, 1000, 5, 9, 5, 4, "same"),  # pool over r (d < P) and over phases (d >= P)
        (2, 3, 777, 4, 7, 6, 4, "same"),  # several input channels, odd length
        (1, 2, 500, 3, 5, 4, 2, "same"),
        (2, 1, 1200, 4, 9, 4, 8, "same"),  # pool = BLOCK
        (1, 1, 1300, 3, 6, 5, 16, "same"),  # even kernel, pool = 2 BLOCK (time order at d < 16)
        (2, 1, 37, 3, 5, 3, 4, "same"),  # shorter than one block
        (2, 2, 900, 3, 5, 3, 4, "valid"),
        (2, 1, 700, 4, 3, 5, 3, "same"),  # W-SampleCNN: pool 3 on dyadic scales, time order
        (1, 2, 650, 3, 7, 6, 5, "same"),
        (1, 1, 2000, 3, 9, 4, 32, "same"),  # pool larger than BLOCK
        # kernels of one vector and more (the compiled weight gradient keeps ceil(K / lanes)
        # sums in registers, the last overlapping; beyond 8 vectors a plain loop)
        (2, 1, 900, 5, 16, 4, 4, "same"),
        (1, 2, 1100, 4, 17, 4, 4, "same"),
        (1, 1, 1300, 3, 33, 3, 2, "valid"),
        (1, 1, 3000, 3, 130, 3, 4, "same"),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("base", [2.0, 3.0])
def test_fused_equals_lifting_then_max_pool(
    batch, c_in, time, c_out, k, num_scales, pool, padding, dtype, base
):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(batch, c_in, time, generator=gen, dtype=dtype)
    weight = torch.randn(c_out, c_in, k, generator=gen, dtype=dtype)
    bias = torch.randn(c_out, generator=gen, dtype=dtype)
    grid = wn.ScaleGrid(num_scales if base == 2 else min(num_scales, 4), base)
    got, got_grads = outputs_and_weight_grads(
        lambda x, w, b: WF.lifting_conv_max_pool1d(x, w, grid, pool, bias=b, padding=padding),
        x, weight, bias,
    )  # fmt: skip
    want, want_grads = outputs_and_weight_grads(
        lambda x, w, b: reference(x, w, grid, pool, b, padding), x, weight, bias
    )
    tol = 1e-5 if dtype == torch.float32 else 1e-11
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=tol, atol=tol * want.abs().max().item())
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w, rtol=tol, atol=tol * w.abs().max().item())


def test_fused_path_really_runs(monkeypatch):
    calls = []
    original = pooled._LiftingMaxPool.apply
    monkeypatch.setattr(pooled._LiftingMaxPool, "apply", lambda *a: calls.append(1) or original(*a))
    WF.lifting_conv_max_pool1d(torch.randn(1, 1, 256), torch.randn(2, 1, 5), wn.ScaleGrid(3), 4)
    assert calls == [1]


def test_ties_send_the_gradient_to_the_first_maximum_like_max_pool():
    # A constant signal makes every window of the interior a four-way tie.
    x = torch.ones(1, 1, 512, dtype=torch.float64)
    weight = torch.randn(3, 1, 5, dtype=torch.float64)
    grid = wn.ScaleGrid(4)
    got, (g1,) = outputs_and_weight_grads(
        lambda x, w, b: WF.lifting_conv_max_pool1d(x, w, grid, 4), x, weight, None
    )
    want, (g2,) = outputs_and_weight_grads(
        lambda x, w, b: reference(x, w, grid, 4), x, weight, None
    )
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(g1, g2)


@pytest.mark.parametrize(
    "case",
    ["input requires grad", "base sqrt 2", "one tap", "pool 1", "pool 300"],
)
def test_falls_back_to_the_two_operations(case):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 300, generator=gen, dtype=torch.float64)
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
    else:
        pool = 1
    got = WF.lifting_conv_max_pool1d(x, weight, grid, pool)
    want = reference(x, weight, grid, pool) if pool > 1 else WF.lifting_conv1d(x, weight, grid)
    torch.testing.assert_close(got, want)
    if x.requires_grad:
        (gx,) = torch.autograd.grad(got.sum(), x)
        (wx,) = torch.autograd.grad(want.sum(), x)
        torch.testing.assert_close(gx, wx)


def test_gradcheck_of_the_weight():
    x = torch.randn(1, 2, 96, dtype=torch.float64)
    w = torch.randn(2, 2, 5, dtype=torch.float64, requires_grad=True)
    grid = wn.ScaleGrid(3)
    assert torch.autograd.gradcheck(lambda w: WF.lifting_conv_max_pool1d(x, w, grid, 4), (w,))


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
        lambda x, w, b: reference(x, w, grid, 4), x, weight, None
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


def test_split_batch_restores_torch_threads_after_an_error():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    seen = []

    def work(items):
        seen.append((list(items), torch.get_num_threads()))
        raise RuntimeError("boom")

    try:
        with pytest.raises(RuntimeError, match="boom"):
            split_batch(4, work)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen and all(n == 1 for _, n in seen)  # one torch thread per worker
    assert all(items in ([0, 2], [1, 3]) for items, _ in seen)  # interleaved halves


@pytest.mark.parametrize("kernel, time", [(4, 1000), (3, 1001), (2, 7), (5, 23)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_time_max_pool_equals_max_pool2d(monkeypatch, kernel, time, dtype):
    """Values (NaN wins) and gradients (ties: to the first) exactly those of max_pool2d."""
    from wavelet_networks.functional import _native, pooling

    if _native.library() is None:
        pytest.skip("no working C compiler: the compiled loops are unavailable")
    monkeypatch.setattr(pooling, "POOL_MIN_ITEM", 0)
    gen = torch.Generator().manual_seed(kernel * time)
    x = torch.round(torch.randn(3, 4, 5, time, generator=gen, dtype=dtype) * 2)  # ties
    x.view(-1)[torch.randperm(x.numel(), generator=gen)[:15]] = float("nan")
    out = {}
    for name, fn in (
        ("compiled", lambda v: WF.time_max_pool(v, kernel)),
        ("max_pool2d", lambda v: torch.nn.functional.max_pool2d(v, (1, kernel))),
    ):
        xr = x.clone().transpose(1, 2).requires_grad_(True)  # a strided input
        y = fn(xr)
        g = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
        out[name] = y, torch.autograd.grad(y, xr, g)[0]
    torch.testing.assert_close(out["compiled"][0], out["max_pool2d"][0], rtol=0, atol=0, equal_nan=True)
    assert torch.equal(out["compiled"][1], out["max_pool2d"][1])


def test_compiled_time_max_pool_is_used_for_large_items(monkeypatch):
    from wavelet_networks.functional import _native, pooling

    calls = []
    original = pooling._TimeMaxPool.apply
    monkeypatch.setattr(pooling._TimeMaxPool, "apply", lambda *a: calls.append(1) or original(*a))
    WF.time_max_pool(torch.randn(2, 2, 2, pooling.POOL_MIN_ITEM // 4), 4)
    assert bool(calls) == (_native.library() is not None)
    calls.clear()
    WF.time_max_pool(torch.randn(2, 2, 2, 100), 4)  # small items, overlapping or padded windows
    WF.time_max_pool(torch.randn(2, 2, 2, pooling.POOL_MIN_ITEM // 4), 4, stride=2)
    WF.time_max_pool(torch.randn(2, 2, 2, pooling.POOL_MIN_ITEM // 4), 4, padding=1)
    assert not calls


@pytest.mark.parametrize(
    "c_out, dtype, rows",
    [(51, torch.float32, 2048), (90, torch.float32, 1024), (51, torch.float64, 1024)],
)
def test_products_are_as_large_as_their_cache_budget(c_out, dtype, rows):
    """W-M11's products take 2,048 rows; wider or float64 ones fewer (``Y_BYTES``)."""
    itemsize = torch.empty(0, dtype=dtype).element_size()
    assert pooled._product_rows(c_out, itemsize) == rows
    assert rows * pooled.BLOCK * c_out * itemsize <= pooled.Y_BYTES

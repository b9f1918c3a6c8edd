"""Batch items on parallel threads (functional._threads) against one batched call."""

import pytest
import torch

import wavelet_networks as wn
from wavelet_networks import functional as WF
from wavelet_networks.functional import _threads


@pytest.fixture
def threads_always(monkeypatch):
    """Every input takes the threaded path (the default spares small ones), on 2 threads."""
    monkeypatch.setattr(_threads, "MIN_ITEM", 0)
    calls = []
    apply = _threads._BatchParallel.apply
    monkeypatch.setattr(
        _threads._BatchParallel, "apply", lambda *a: calls.append(1) or apply(*a)
    )
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield calls
    torch.set_num_threads(before)


def values_and_grads(fn, x, params, seed=0):
    x = x.clone().requires_grad_(True)
    params = [p.clone().requires_grad_(True) for p in params]
    y = fn(x, *params)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    return y, torch.autograd.grad(y, [x, *params], g)


def sequential(fn, x, *params):
    return fn(x, *params)


@pytest.mark.parametrize("m, boundary", [(3, "crop"), (1, "crop"), (2, "truncate")])
@pytest.mark.parametrize("batch", [2, 3, 5])
def test_threaded_group_conv_equals_one_batched_call(threads_always, monkeypatch, m, boundary, batch):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(batch, 3, 5, 200, generator=gen, dtype=torch.float64)
    w = torch.randn(4, 3, m, 5, generator=gen, dtype=torch.float64)
    b = torch.randn(4, generator=gen, dtype=torch.float64)

    def conv(x, w, b):
        return WF.group_conv1d(x, w, scale_boundary=boundary, bias=b)

    got, got_grads = values_and_grads(conv, x, [w, b])
    assert len(threads_always) == 1
    assert torch.get_num_threads() == 2
    monkeypatch.setattr(wn.functional.conv, "batch_parallel", sequential)
    want, want_grads = values_and_grads(conv, x, [w, b])
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    for a, c in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(a, c, rtol=1e-11, atol=1e-11)


def test_threaded_path_without_gradients_and_for_the_weight_only(threads_always):
    x = torch.randn(4, 2, 3, 100)
    layer = wn.nn.GroupConv1d(2, 3, 3, scale_kernel_size=1)
    with torch.no_grad():
        y = layer(x)
    assert y.shape == (4, 3, 3, 100) and y.grad_fn is None
    y = layer(x)  # x needs no gradient, the weight does
    y.sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    assert len(threads_always) == 2


def test_threaded_path_is_skipped_for_small_items_one_thread_and_one_item(monkeypatch):
    calls = []
    apply = _threads._BatchParallel.apply
    monkeypatch.setattr(_threads._BatchParallel, "apply", lambda *a: calls.append(1) or apply(*a))
    layer = wn.nn.GroupConv1d(2, 3, 3, scale_kernel_size=1)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        layer(torch.randn(2, 2, 3, 100))  # 600 elements per item
        monkeypatch.setattr(_threads, "MIN_ITEM", 0)
        layer(torch.randn(1, 2, 3, 100))
        torch.set_num_threads(1)
        layer(torch.randn(2, 2, 3, 100))
        assert not calls
        torch.set_num_threads(2)
        layer(torch.randn(2, 2, 3, 100))
        assert len(calls) == 1
    finally:
        torch.set_num_threads(before)


def test_errors_inside_the_threads_reach_the_caller(threads_always):
    x = torch.randn(2, 2, 3, 10)
    w = torch.randn(3, 2, 1, 9)
    with pytest.raises(ValueError, match="at least as long as the kernel"):
        WF.group_conv1d(x, w, padding="valid")
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("mode", ["grad", "no_grad", "inference", "autocast"])
def test_workers_take_the_callers_grad_inference_and_autocast_modes(mode):
    import contextlib

    contexts = {
        "grad": contextlib.nullcontext(),
        "no_grad": torch.no_grad(),
        "inference": torch.inference_mode(),
        "autocast": torch.autocast("cpu", dtype=torch.bfloat16),
    }
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with contexts[mode]:
            want = (
                torch.is_grad_enabled(),
                torch.is_inference_mode_enabled(),
                torch.is_autocast_enabled("cpu"),
            )
            seen = _threads.split_batch(
                2,
                lambda items: (
                    torch.is_grad_enabled(),
                    torch.is_inference_mode_enabled(),
                    torch.is_autocast_enabled("cpu"),
                ),
            )
    finally:
        torch.set_num_threads(before)
    assert seen == [want, want]


def test_model_under_inference_mode_equals_no_grad(threads_always):
    model = wn.models.build("w-m11", 10, channels=4).eval()
    x = torch.randn(2, 1, 6000)
    with torch.inference_mode():
        a = model(x)
    with torch.no_grad():
        b = model(x)
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("batch, d, k", [(1, 1, 3), (1, 4, 5), (2, 16, 3), (1, 3, 1)])
def test_dilated_products_equal_conv1d(batch, d, k):
    from wavelet_networks.functional.conv import _DilatedProducts

    gen = torch.Generator().manual_seed(3)
    z = torch.randn(batch, 40, 90 + d * (k - 1), generator=gen, dtype=torch.float64)
    w = torch.randn(6, 40, k, generator=gen, dtype=torch.float64)

    def products(z, w):
        return _DilatedProducts.apply(z, w.permute(2, 0, 1).contiguous(), d)

    def conv(z, w):
        return torch.nn.functional.conv1d(z, w, dilation=d)

    got, got_grads = values_and_grads(products, z, [w])
    want, want_grads = values_and_grads(conv, z, [w])
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    for a, c in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(a, c, rtol=1e-12, atol=1e-12)
    zz = z[:1, :4, : 10 + d * (k - 1)].clone().requires_grad_()
    ww = w[:2, :4].clone().requires_grad_()
    assert torch.autograd.gradcheck(products, (zz, ww))


def test_threaded_wide_group_conv_takes_the_products_and_equals_conv1d(threads_always, monkeypatch):
    from wavelet_networks.functional import conv as conv_module

    calls = []
    apply = conv_module._DilatedProducts.apply
    monkeypatch.setattr(
        conv_module._DilatedProducts, "apply", lambda *a: calls.append(1) or apply(*a)
    )
    gen = torch.Generator().manual_seed(4)
    monkeypatch.setattr(conv_module, "ITEMWISE", False)  # else functional.itemwise
    x = torch.randn(2, 12, 5, 300, generator=gen, dtype=torch.float64)  # C_eff = 36
    w = torch.randn(5, 12, 3, 3, generator=gen, dtype=torch.float64)
    got, got_grads = values_and_grads(lambda x, w: WF.group_conv1d(x, w), x, [w])
    assert calls  # one batch item per thread: the products
    monkeypatch.setattr(conv_module, "PRODUCT_CHANNELS", 10**9)
    want, want_grads = values_and_grads(lambda x, w: WF.group_conv1d(x, w), x, [w])
    torch.testing.assert_close(got, want, rtol=1e-11, atol=1e-11)
    for a, c in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(a, c, rtol=1e-10, atol=1e-10)

"""Batch items on worker threads (functional.fast._threads): results, modes, thread counts."""

import contextlib
import threading

import pytest
import torch

import wavelet_networks as wn
from wavelet_networks import functional as WF
from wavelet_networks.functional.fast import _threads, factorized


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def values_and_grads(fn, x, params, seed=0):
    x = x.clone().requires_grad_(True)
    params = [p.clone().requires_grad_(True) for p in params]
    y = fn(x, *params)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    return y, torch.autograd.grad(y, [x, *params], g)


def test_threaded_path_without_gradients_and_for_the_weight_only(two_threads):
    x = torch.randn(4, 2, 3, 100)
    layer = wn.nn.GroupConv1d(2, 3, 3, scale_kernel_size=1)
    with wn.configure(thread_min_item=0):
        assert WF.group_conv1d.chosen(x, layer.weight) == "threads"
        with torch.no_grad():
            y = layer(x)
        assert y.shape == (4, 3, 3, 100) and y.grad_fn is None
        y = layer(x)  # x needs no gradient, the weight does
    y.sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_errors_inside_the_threads_reach_the_caller(two_threads):
    def work(items):
        raise RuntimeError(f"boom {items}")

    with pytest.raises(RuntimeError, match=r"boom \[0, 2\]|boom \[1, 3\]"):
        _threads.split_batch(4, work)
    assert torch.get_num_threads() == 2


def test_the_workers_run_one_torch_thread_each_and_nobody_else_changes(two_threads):
    """The workers' count is their own: the caller's, a thread that runs alongside, and a
    thread started afterwards keep the process's count."""
    if not _threads._per_thread_counts():
        pytest.skip("torch's thread count is process-wide in this build")
    seen_alongside = []
    running, done = threading.Event(), threading.Event()

    def alongside():
        torch.get_num_threads()
        running.set()
        while not done.is_set():
            seen_alongside.append(torch.get_num_threads())

    watcher = threading.Thread(target=alongside)
    watcher.start()
    running.wait()
    try:
        seen = _threads.split_batch(4, lambda items: torch.get_num_threads())
    finally:
        done.set()
        watcher.join()
    assert seen == [1, 1]
    assert torch.get_num_threads() == 2
    assert seen_alongside and set(seen_alongside) == {2}
    later = []
    thread = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert later == [2]


def test_split_batch_interleaves_the_items_and_keeps_their_order(two_threads):
    assert _threads.split_batch(5, list) == [[0, 2, 4], [1, 3]]
    with wn.configure(threads=False):
        assert _threads.split_batch(5, list) == [[0, 1, 2, 3, 4]]
    torch.set_num_threads(1)
    assert _threads.split_batch(5, list) == [[0, 1, 2, 3, 4]]


@pytest.mark.parametrize("mode", ["grad", "no_grad", "inference", "autocast"])
def test_workers_take_the_callers_grad_inference_and_autocast_modes(mode, two_threads):
    contexts = {
        "grad": contextlib.nullcontext(),
        "no_grad": torch.no_grad(),
        "inference": torch.inference_mode(),
        "autocast": torch.autocast("cpu", dtype=torch.bfloat16),
    }
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
    assert seen == [want, want]


def test_model_under_inference_mode_equals_no_grad(two_threads):
    model = wn.models.build("w-m11", 10, channels=4).eval()
    x = torch.randn(2, 1, 6000)
    with wn.configure(thread_min_item=0):
        with torch.inference_mode():
            a = model(x)
        with torch.no_grad():
            b = model(x)
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("batch, d, k", [(1, 1, 3), (1, 4, 5), (2, 16, 3), (1, 3, 1)])
def test_dilated_products_equal_conv1d(batch, d, k):
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(batch, 40, 90 + d * (k - 1), generator=gen, dtype=torch.float64)
    w = torch.randn(6, 40, k, generator=gen, dtype=torch.float64)

    def products(z, w):
        return factorized._DilatedProducts.apply(z, w.permute(2, 0, 1).contiguous(), d)

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


def test_one_item_per_thread_takes_the_products(two_threads, monkeypatch):
    calls = []
    apply = factorized._DilatedProducts.apply
    monkeypatch.setattr(factorized._DilatedProducts, "apply", lambda *a: calls.append(1) or apply(*a))
    x = torch.randn(2, 12, 5, 300, dtype=torch.float64)  # C_eff = 36
    w = torch.randn(5, 12, 3, 3, dtype=torch.float64)
    with wn.configure(thread_min_item=0, disabled={"group_conv1d:itemwise"}):
        assert WF.group_conv1d.chosen(x, w) == "threads"
        WF.group_conv1d(x, w)
    assert len(calls) == 2 * 3  # per item (each in its own call), per output scale

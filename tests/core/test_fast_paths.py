"""The fast paths ("factorized" cascade, "fft") against the direct sampled-kernel formula."""

import pytest
import torch

import wavelet_networks as wn
from wavelet_networks import functional as WF
from wavelet_networks.functional.fft import _next_fast, fft_block_size, fft_correlate
from wavelet_networks.functional.smoothing import (
    cascade_filter,
    level_rows,
    scale_relation,
    smoothed_levels,
)
from wavelet_networks.splines import refinement_coefficients, sampled_bspline


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


# ------------------------------------------------------------------ cascade
@pytest.mark.parametrize("base", [2, 3, 4])
@pytest.mark.parametrize("order", [0, 1, 2, 3, 4])
def test_cascade_filter_is_the_sampled_bspline(base, order):
    for j in range(5):
        s = base**j
        got = cascade_filter(s, base, order)
        expected = sampled_bspline(s, order, dtype=torch.float64)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-14)


@pytest.mark.parametrize("base", [2, 3])
@pytest.mark.parametrize("order", [0, 1, 2, 3])
@pytest.mark.parametrize("keep", [1, 3])
def test_trimmed_levels_are_the_first_rows_of_the_full_levels(base, order, keep):
    x = torch.randn(2, 3, 7, 200, dtype=torch.float64)
    levels = 4
    full = list(smoothed_levels(x, base, order, levels, drop=1))
    trimmed = list(smoothed_levels(x, base, order, levels, drop=1, keep=keep))
    rows = level_rows(base, order, levels, 7, 1, keep)
    for j, (a, b) in enumerate(zip(trimmed, full, strict=True)):
        assert a.shape[-2] == rows[j] >= min(keep, 7 - j)
        torch.testing.assert_close(a, b[..., : rows[j], :], rtol=0, atol=0)
    # base 2, even order: level 1 is made from the input, so level 0 is trimmed
    if base == 2 and order % 2 == 0:
        assert rows[0] == keep


@pytest.mark.parametrize("order", [0, 1, 2, 3])
def test_scale_relation_base_2_is_the_refinement_relation(order):
    g, offset = scale_relation(2, order)
    torch.testing.assert_close(
        torch.tensor(g, dtype=torch.float64), refinement_coefficients(order) / 2
    )
    assert offset == (order + 1) / 2
    assert sum(g) == pytest.approx(1.0)


# ------------------------------------------------------------------ fft
@pytest.mark.parametrize(
    ("c_in", "taps", "length", "stride"), [(1, 79, 3000, 1), (3, 5, 40, 2), (2, 700, 701, 1)]
)
def test_fft_correlate_equals_conv1d(c_in, taps, length, stride):
    x = torch.randn(2, c_in, length, dtype=torch.float64)
    k = torch.randn(4, c_in, taps, dtype=torch.float64)
    got = fft_correlate(x, k, stride)
    torch.testing.assert_close(got, torch.nn.functional.conv1d(x, k, stride=stride))


def test_fft_sizes_are_fast_and_large_enough():
    assert _next_fast(1000) == 1000 and _next_fast(1001) == 1024 and _next_fast(7) == 8
    n = fft_block_size(300, 100_000)
    assert n >= 4 * 300 and _next_fast(n) == n
    assert fft_block_size(300, 100) == _next_fast(399)  # one block when the signal is short


# ------------------------------------------------------------------ agreement with "direct"
FAST = ["factorized", "fft"]


@pytest.mark.parametrize("method", FAST)
@pytest.mark.parametrize("kernel_size", [1, 2, 3, 6, 9])
@pytest.mark.parametrize("order", [0, 1, 2, 3])
@pytest.mark.parametrize(
    ("padding", "stride"), [("same", 1), ("valid", 1), ("same", 3), ("valid", 2)]
)
def test_lifting_fast_equals_direct_float32(method, kernel_size, order, padding, stride):
    x = torch.randn(2, 2, 400)
    w = torch.randn(3, 2, kernel_size)
    grid = wn.ScaleGrid(5)
    a = WF.lifting_conv1d(x, w, grid, order, stride=stride, padding=padding, method=method)
    b = WF.lifting_conv1d(x, w, grid, order, stride=stride, padding=padding, method="direct")
    assert a.shape == b.shape
    assert rel_err(a, b) < 1e-5


@pytest.mark.parametrize("method", FAST)
@pytest.mark.parametrize("kernel_size", [1, 2, 3, 5])
@pytest.mark.parametrize("order", [0, 2, 3])
@pytest.mark.parametrize("boundary", ["crop", "truncate"])
@pytest.mark.parametrize(("padding", "stride"), [("same", 1), ("valid", 1), ("same", 2)])
@pytest.mark.parametrize("scale_taps", [1, 3])
def test_group_fast_equals_direct_float32(
    method, kernel_size, order, boundary, padding, stride, scale_taps
):
    x = torch.randn(2, 3, 5, 300)
    w = torch.randn(4, 3, scale_taps, kernel_size)
    kwargs = dict(scale_boundary=boundary, stride=stride, padding=padding)
    a = WF.group_conv1d(x, w, 2.0, order, method=method, **kwargs)
    b = WF.group_conv1d(x, w, 2.0, order, method="direct", **kwargs)
    assert a.shape == b.shape
    assert rel_err(a, b) < 1e-5


@pytest.mark.parametrize("base", [3.0, 1.5])
def test_other_bases(base):
    x = torch.randn(1, 2, 4, 200)
    w = torch.randn(3, 2, 2, 3)
    b = WF.group_conv1d(x, w, base, 2, "truncate", method="direct")
    a = WF.group_conv1d(x, w, base, 2, "truncate", method="fft")
    assert rel_err(a, b) < 1e-5
    if float(base).is_integer():
        a = WF.group_conv1d(x, w, base, 2, "truncate", method="factorized")
        assert rel_err(a, b) < 1e-5


@pytest.mark.parametrize("method", FAST)
def test_fast_gradients_equal_direct(method):
    x = torch.randn(2, 2, 4, 120, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 2, 5, dtype=torch.float64, requires_grad=True)
    grads = []
    for m in (method, "direct"):
        out = WF.group_conv1d(x, w, 2.0, 2, "truncate", method=m)
        grads.append(torch.autograd.grad((out * torch.cos(out)).sum(), (x, w)))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)
    xl = torch.randn(2, 1, 300, dtype=torch.float64, requires_grad=True)
    wl = torch.randn(3, 1, 9, dtype=torch.float64, requires_grad=True)
    grads = []
    for m in (method, "direct"):
        out = WF.lifting_conv1d(xl, wl, wn.ScaleGrid(4), 2, method=m)
        grads.append(torch.autograd.grad((out**2).sum(), (xl, wl)))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("order", [0, 1, 2, 3])
@pytest.mark.parametrize(
    "scale_taps, scales, boundary", [(3, 7, "crop"), (1, 5, "crop"), (3, 5, "truncate")]
)
@pytest.mark.parametrize("base", [2.0, 3.0])
def test_cascade_adjoint_equals_direct_gradient(order, scale_taps, scales, boundary, base):
    # The factorised group conv's backward is a hand-written adjoint of the smoothing
    # cascade (conv._GroupWindows): every order, with and without a direct start.
    gen = torch.Generator().manual_seed(order)
    x = torch.randn(2, 3, scales, 200, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(4, 3, scale_taps, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    grads = []
    for m in ("factorized", "direct"):
        out = WF.group_conv1d(x, w, base, order, boundary, method=m)
        g = torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(9))
        grads.append(torch.autograd.grad(out, (x, w), g))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9 * b.abs().max().item())


def test_auto_choices():
    from wavelet_networks.functional.conv import _choose

    scales = [2.0**j for j in range(9)]
    assert _choose("auto", scales, 1, 51, 79, 88200) == "factorized"
    assert _choose("auto", scales, 153, 51, 3, 5512) == "factorized"
    assert _choose("auto", [1.5**j for j in range(9)], 1, 51, 79, 88200) == "fft"
    assert _choose("auto", [1.5**j for j in range(3)], 153, 51, 3, 500) == "direct"
    assert _choose("fft", scales, 153, 51, 3, 5512) == "fft"
    with pytest.raises(ValueError, match="integer"):
        _choose("factorized", [1.5**j for j in range(3)], 1, 1, 3, 100)


def test_torch_compile_matches_eager():
    if not hasattr(torch, "compile"):
        pytest.skip("torch.compile unavailable")
    lift = wn.nn.LiftingConv1d(1, 4, 9, 4)
    group = wn.nn.GroupConv1d(4, 4, 3, 3)
    model = torch.nn.Sequential(lift, group)
    x = torch.randn(2, 1, 256)
    try:
        compiled = torch.compile(model)
        got = compiled(x)
    except Exception as exc:  # no C++ compiler, unsupported platform, ...
        pytest.skip(f"torch.compile unavailable here: {type(exc).__name__}: {exc}")
    torch.testing.assert_close(got, model(x), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ dilated products
@pytest.mark.parametrize("path", [0, 1])  # the matrix products, oneDNN's own backward
@pytest.mark.parametrize("dilation", [1, 4, 16])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dilated_conv_backward_equals_conv1d(dilation, dtype, path):
    """Either backward of the batched dilated convolution is conv1d's own."""
    from wavelet_networks.functional import _autotune
    from wavelet_networks.functional.conv import _DilatedConv

    gen = torch.Generator().manual_seed(dilation)
    z = torch.randn(3, 10, 300 + 2 * dilation, generator=gen, dtype=dtype)
    w = torch.randn(7, 10, 3, generator=gen, dtype=dtype)
    g = torch.randn(3, 7, 300, generator=gen, dtype=dtype)
    grads = {}
    for name, fn in (("products", _DilatedConv.apply), ("conv1d", None)):
        zr, wr = z.clone().requires_grad_(True), w.clone().requires_grad_(True)
        with _autotune.forced(path):
            y = fn(zr, wr, dilation) if fn else torch.nn.functional.conv1d(zr, wr, dilation=dilation)
            grads[name] = (y, *torch.autograd.grad(y, [zr, wr], g))
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for a, b in zip(grads["products"], grads["conv1d"], strict=True):
        assert rel_err(a, b) < tol


def test_batched_group_layers_take_the_tuned_backward(monkeypatch):
    """Group layers on the batched path with long enough time use _DilatedConv."""
    from wavelet_networks.functional import conv

    calls = []
    original = conv._DilatedConv.apply
    monkeypatch.setattr(conv._DilatedConv, "apply", lambda *a: calls.append(1) or original(*a))
    x = torch.randn(2, 4, 3, 300)
    WF.group_conv1d(x, torch.randn(5, 4, 3, 3), 2.0, method="factorized")
    assert calls
    calls.clear()
    monkeypatch.setattr(conv, "PRODUCT_BACKWARD_TIME", 200)  # from this time on
    WF.group_conv1d(x[..., :100], torch.randn(5, 4, 3, 3), 2.0, method="factorized")
    assert not calls

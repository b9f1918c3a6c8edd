"""The parts of the fast paths: the smoothing cascade, FFT correlation, dilated products, choices."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import wavelet_networks as wn
from wavelet_networks import functional as WF
from wavelet_networks.functional import reference
from wavelet_networks.functional.fast import _autotune, factorized
from wavelet_networks.functional.fast.cascade import (
    cascade_filter,
    level_rows,
    scale_relation,
    smooth_to,
    smoothed_levels,
)
from wavelet_networks.functional.fast.fft import _next_fast, fft_block_size, fft_correlate
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


@given(base=st.integers(2, 4), order=st.integers(0, 4), level=st.integers(0, 3),
       seed=st.integers(0, 1000))  # fmt: skip
def test_cascade_levels_are_the_reference_smoothing(base, order, level, seed):
    """Every level of the cascade, and the one-scale chain, is the reference's ``smooth``."""
    x = torch.randn(2, 3, 400, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if x.shape[-1] <= (order + 1) * base**level:
        return
    want = reference.smooth(x, base**level, order)
    levels = list(smoothed_levels(x, base, order, level + 1))
    torch.testing.assert_close(levels[level], want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(smooth_to(x, base, order, level), want, rtol=1e-12, atol=1e-12)


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
@given(c_in=st.integers(1, 3), taps=st.integers(1, 300), extra=st.integers(0, 3000),
       stride=st.integers(1, 3), seed=st.integers(0, 1000))  # fmt: skip
def test_fft_correlate_equals_conv1d(c_in, taps, extra, stride, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, c_in, taps + extra, generator=gen, dtype=torch.float64)
    k = torch.randn(4, c_in, taps, generator=gen, dtype=torch.float64)
    got = fft_correlate(x, k, stride)
    torch.testing.assert_close(got, torch.nn.functional.conv1d(x, k, stride=stride))


def test_fft_sizes_are_fast_and_large_enough():
    assert _next_fast(1000) == 1000 and _next_fast(1001) == 1024 and _next_fast(7) == 8
    n = fft_block_size(300, 100_000)
    assert n >= 4 * 300 and _next_fast(n) == n
    assert fft_block_size(300, 100) == _next_fast(399)  # one block when the signal is short


# ------------------------------------------------------------------ which implementation runs
def test_the_dispatcher_chooses_as_the_cost_model_says():
    lift, group = WF.lifting_conv1d, WF.group_conv1d
    x, w = torch.empty(1, 1, 88200, device="meta"), torch.empty(51, 1, 79, device="meta")
    assert lift.chosen(x, w, wn.ScaleGrid(9)) == "factorized"
    assert lift.chosen(x, w, wn.ScaleGrid(9, 1.5)) == "fft"
    assert lift.chosen(x, w, wn.ScaleGrid(9), method="direct") == "reference"
    assert lift.chosen(x, w[..., :1], wn.ScaleGrid(9), method="fft") == "reference"
    g, gw = torch.empty(1, 51, 9, 5512, device="meta"), torch.empty(51, 51, 3, 3, device="meta")
    assert group.chosen(g, gw) == "factorized"
    assert group.chosen(g, gw, method="fft") == "fft"
    assert group.chosen(g[:, :, :3, :500], gw, 1.5) == "reference"  # the sampled kernels
    assert group.chosen(g, gw[..., :1]) == "pointwise"
    with wn.reference_mode():
        assert lift.chosen(x, w, wn.ScaleGrid(9)) == "reference"
    with wn.configure(disabled={"lifting_conv1d:factorized"}):
        assert lift.chosen(x, w, wn.ScaleGrid(9)) == "reference"


def test_batch_items_take_the_threads_and_the_itemwise_form_where_they_pay():
    group = WF.group_conv1d
    x, w = torch.empty(8, 51, 9, 5512), torch.empty(51, 51, 3, 3)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert group.chosen(x, w) == "itemwise"  # W-M11's first stage
        assert group.chosen(x, w[:, :, :, :1]) == "threads"  # one time tap
        assert group.chosen(x[:, :, :, :1000], w) == "factorized"  # below thread_min_item
        assert group.chosen(x, w, method="direct") == "reference"
        with wn.configure(threads=False):
            assert group.chosen(x, w) == "factorized"
        torch.set_num_threads(1)
        assert group.chosen(x, w) == "factorized"
    finally:
        torch.set_num_threads(before)


def test_a_misnamed_setting_or_implementation_is_refused():
    with pytest.raises(ValueError, match=r"unknown settings.*'native'"):
        wn.configure(nativ=False)
    with pytest.raises(ValueError, match=r"unknown implementations \['group_conv1d:itemwize'\]"):
        wn.configure(disabled={"group_conv1d:itemwize"})


# ------------------------------------------------------------------ torch.compile
def test_torch_compile_with_inductor_matches_eager():
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
    gen = torch.Generator().manual_seed(dilation)
    z = torch.randn(3, 10, 300 + 2 * dilation, generator=gen, dtype=dtype)
    w = torch.randn(7, 10, 3, generator=gen, dtype=dtype)
    g = torch.randn(3, 7, 300, generator=gen, dtype=dtype)
    grads = {}
    for name, fn in (("products", factorized._DilatedConv.apply), ("conv1d", None)):
        zr, wr = z.clone().requires_grad_(True), w.clone().requires_grad_(True)
        with _autotune.forced(path):
            y = fn(zr, wr, dilation) if fn else torch.nn.functional.conv1d(zr, wr, dilation=dilation)
            grads[name] = (y, *torch.autograd.grad(y, [zr, wr], g))
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for a, b in zip(grads["products"], grads["conv1d"], strict=True):
        assert rel_err(a, b) < tol


def test_batched_group_layers_take_the_tuned_backward_where_a_gradient_is_recorded(monkeypatch):
    calls = []
    original = factorized._DilatedConv.apply
    monkeypatch.setattr(factorized._DilatedConv, "apply", lambda *a: calls.append(1) or original(*a))
    x = torch.randn(2, 4, 3, 300)
    WF.group_conv1d(x, torch.randn(5, 4, 3, 3), 2.0, method="factorized")
    assert calls
    calls.clear()
    with torch.no_grad():
        WF.group_conv1d(x, torch.randn(5, 4, 3, 3), 2.0, method="factorized")
    assert not calls

"""Scale-proportional max pool and scale readout: values, gradients, equivariance, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import wavelet_networks as wn
from wavelet_networks.functional import (
    scale_pool_halfwidths,
    scale_proportional_max_pool,
    scale_readout,
    scale_readout_weights,
)
from wavelet_networks.nn import ScaleProportionalMaxPool, ScaleReadout
from wavelet_networks.testing import bandlimited_noise, dilation_error, translation_error


def direct_pool(x: torch.Tensor, kernel_size: int, stride: int, base: float):
    """Values and arg-maxima from the definition: a loop over every window."""
    halfwidths = scale_pool_halfwidths(x.shape[2], kernel_size, base)
    n_out = math.ceil(x.shape[-1] / stride)
    values = torch.empty(*x.shape[:3], n_out, dtype=x.dtype)
    args = torch.empty(*x.shape[:3], n_out, dtype=torch.long)
    for j, h in enumerate(halfwidths):
        for n in range(n_out):
            lo = max(0, n * stride - h)
            window = x[:, :, j, lo : n * stride + h + 1]
            v, i = window.max(dim=-1)
            values[:, :, j, n], args[:, :, j, n] = v, i + lo
    return values, args


CASES = [  # (kernel_size, stride, base, scales, time)
    (4, 4, 2.0, 6, 100),  # the models' pool; time a multiple of the stride
    (4, 4, 2.0, 5, 37),  # time not a multiple, windows longer than the signal
    (3, 3, 2.0, 4, 50),  # odd window
    (4, 2, 2.0, 4, 41),  # stride shorter than the window
    (2, 5, 2.0, 3, 33),  # stride longer than the window: gaps between windows
    (4, 4, 2**0.5, 5, 60),  # non-integer base: every window pooled directly
    (1, 1, 2.0, 3, 20),  # window of one sample at scale 0
]


@pytest.mark.parametrize(("k", "stride", "base", "scales", "time"), CASES)
def test_values_and_gradients_match_the_definition(k, stride, base, scales, time):
    x = torch.randn(2, 3, scales, time, dtype=torch.float64, requires_grad=True)
    y = scale_proportional_max_pool(x, k, stride, base)
    values, args = direct_pool(x.detach(), k, stride, base)
    assert y.shape == values.shape
    assert torch.equal(y.detach(), values)
    # The gradient of sum(g * y) sends g to each window's maximum; overlapping windows add up.
    g = torch.randn_like(y)
    (y * g).sum().backward()
    expected = torch.zeros_like(x).scatter_add_(-1, args, g)
    assert torch.allclose(x.grad, expected, rtol=0, atol=1e-12)


def test_gradcheck():
    x = torch.randn(1, 2, 4, 29, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: scale_proportional_max_pool(t, 4), (x,))


def test_window_grows_with_the_scale():
    # One spike: scale j sees it in every output whose window reaches it (h_j = 2 * 2**j).
    x = torch.zeros(1, 1, 4, 64)
    x[..., 32] = 1.0
    y = scale_proportional_max_pool(x, 4)
    for j, h in enumerate([2, 4, 8, 16]):
        hit = torch.nonzero(y[0, 0, j]).flatten() * 4
        assert hit.min() == 32 - (h // 4) * 4 and hit.max() == 32 + (h // 4) * 4
        assert torch.all((hit - 32).abs() <= h)


def test_layer_wraps_the_function_and_reports_its_settings():
    x = torch.randn(2, 3, 4, 50)
    pool = ScaleProportionalMaxPool(4)
    assert torch.equal(pool(x), scale_proportional_max_pool(x, 4))
    assert pool.stride == 4 and "kernel_size=4, stride=4, base=2" in repr(pool)
    assert ScaleProportionalMaxPool(3, 2).stride == 2


def lift_and_pool(pool: nn.Module) -> nn.Module:
    return nn.Sequential(wn.nn.LiftingConv1d(1, 6, 9, 5), nn.ReLU(), pool)


@pytest.mark.parametrize("shift", [4, 8, -12])
def test_translation_equivariant_by_multiples_of_the_stride(shift):
    x = torch.randn(2, 1, 512)
    assert translation_error(lift_and_pool(ScaleProportionalMaxPool(4)), x, shift) < 1e-6


def test_dilation_equivariant_where_a_fixed_pool_is_not():
    # Band-limited input stretched by 2: lifting, ReLU and the pool at matching scales.
    torch.manual_seed(0)
    x = bandlimited_noise((2, 1, 2048), 0.25, torch.Generator().manual_seed(1))
    torch.manual_seed(2)
    proportional = lift_and_pool(ScaleProportionalMaxPool(4)).double()
    fixed = nn.Sequential(*list(proportional)[:2], wn.nn.TimeMaxPool(4)).double()
    err_prop = dilation_error(proportional, x, per_scale=True)
    err_fixed = dilation_error(fixed, x, per_scale=True)
    assert max(err_prop) < 0.03, err_prop
    assert min(err_fixed) > 0.1, err_fixed  # a fixed window is half as long at the dilated input


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match=r"\(batch, channels, scales, time\)"):
        scale_proportional_max_pool(torch.randn(2, 3, 50), 4)
    with pytest.raises(ValueError, match="kernel_size"):
        scale_proportional_max_pool(torch.randn(1, 1, 2, 10), 0)
    with pytest.raises(ValueError, match="stride"):
        ScaleProportionalMaxPool(4, stride=0)
    with pytest.raises(ValueError, match="base"):
        ScaleProportionalMaxPool(4, base=1.0)
    with pytest.raises(ValueError, match="scale must be one of"):
        ScaleReadout("median")


def test_readout_weights():
    w = scale_readout_weights(6)
    assert w.sum().item() == pytest.approx(1.0)
    assert torch.allclose(w, w.flip(0))  # symmetric
    assert w[0] < w[1] < w[2] and w[0] > 0  # tapered, every scale counts
    assert torch.allclose(scale_readout_weights(4, "mean"), torch.full((4,), 0.25))


def test_readout_values():
    x = torch.randn(2, 3, 5, 40)
    assert torch.allclose(scale_readout(x, "mean"), x.mean(dim=(2, 3)), atol=1e-6)
    assert torch.allclose(scale_readout(x, "max"), x.mean(dim=3).amax(dim=2))
    w = scale_readout_weights(5)
    assert torch.allclose(ScaleReadout()(x), (x.mean(dim=3) * w).sum(-1), atol=1e-6)


def test_tapered_readout_counts_the_end_scales_less_than_the_mean():
    # A dilation replaces the features at the ends of the scale axis: a change there
    # moves the tapered readout less than the plain mean.
    x = torch.rand(4, 3, 6, 20) + 1
    changed = x.clone()
    changed[:, :, 0] += 5.0
    moved = {m: (scale_readout(changed, m) - scale_readout(x, m)).abs().mean()
             for m in ("mean", "taper")}
    assert moved["taper"] < 0.5 * moved["mean"], moved

"""The paper's one-tap spline head against its formula, written out."""

from __future__ import annotations

import pytest
import torch

import wavelet_networks as wn
from wavelet_networks.models.heads import SplineOneTapGroupConv1d
from wavelet_networks.splines import bspline


def brute_force(x: torch.Tensor, w: torch.Tensor, base: float = 2.0) -> torch.Tensor:
    """``y[o, j, t] = sum_{c, k, m} x[c, j + k, t + m] (w[o, c, k] / s_j) B^2(m / s_j)``, zero padded."""
    batch, _, scales, time = x.shape
    c_out, _, taps, _ = w.shape
    y = torch.zeros(batch, c_out, scales - taps + 1, time, dtype=x.dtype)
    for j in range(scales - taps + 1):
        s = base**j
        for t in range(time):
            for m in range(-time, time + 1):
                if 0 <= t + m < time:
                    b = bspline(torch.tensor(m / s, dtype=x.dtype), 2) / s
                    patch = x[:, :, j : j + taps, t + m]  # (B, C, M)
                    y[:, :, j, t] += b * torch.einsum("bck,ock->bo", patch, w[..., 0])
    return y


@pytest.mark.parametrize("time", [1, 2, 7])
def test_spline_one_tap_is_the_sampled_spline_kernel(time):
    torch.manual_seed(0)
    layer = SplineOneTapGroupConv1d(3, 2, scale_kernel_size=2).double()
    x = torch.randn(2, 3, 5, time, dtype=torch.float64)
    torch.testing.assert_close(layer(x), brute_force(x, layer.weight), rtol=1e-12, atol=1e-12)


def test_on_one_time_step_it_weights_scale_j_by_0_75_over_2_to_the_j():
    torch.manual_seed(0)
    layer = SplineOneTapGroupConv1d(4, 3, scale_kernel_size=3).double()
    pointwise = wn.nn.GroupConv1d(4, 3, 1, scale_kernel_size=3).double()
    pointwise.load_state_dict(layer.state_dict())  # same keys and shapes
    x = torch.randn(2, 4, 7, 1, dtype=torch.float64)
    factors = torch.tensor([0.75 / 2**j for j in range(5)], dtype=torch.float64)
    torch.testing.assert_close(layer(x), pointwise(x) * factors[:, None], rtol=1e-14, atol=0)


def test_one_tap_only():
    with pytest.raises(TypeError, match="kernel_size"):
        SplineOneTapGroupConv1d(4, 3, scale_kernel_size=1, kernel_size=3)
    with pytest.raises(ValueError, match="4 dimensions"):
        SplineOneTapGroupConv1d(4, 3, scale_kernel_size=1)(torch.zeros(2, 4, 5))


@pytest.mark.parametrize(("name", "scales"), [("w-m3", 5), ("w-m5", 1), ("w-m34-res", 1)])
def test_w_mnets_use_it_unless_told_otherwise(name, scales):
    with torch.device("meta"):
        paper = wn.models.build(name, 10)
        pointwise = wn.models.build(name, 10, spline_head=False)
    assert type(paper.head) is SplineOneTapGroupConv1d
    assert type(pointwise.head) is wn.nn.GroupConv1d
    assert paper.state_dict().keys() == pointwise.state_dict().keys()
    out = paper.head(torch.empty(1, paper.head.in_channels, scales + paper.head.scale_kernel_size - 1, 1, device="meta"))
    assert out.shape == (1, 10, scales, 1)

"""Pooling, normalisation, dropout and the wavelet loss."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import wavelet_networks as wn


def test_time_pools_act_per_scale():
    x = torch.randn(2, 3, 4, 40)
    out = wn.nn.TimeMaxPool(4)(x)
    assert out.shape == (2, 3, 4, 10)
    torch.testing.assert_close(out[:, :, 2], nn.functional.max_pool1d(x[:, :, 2], 4))
    avg = wn.nn.TimeAvgPool(5, stride=5)(x)
    torch.testing.assert_close(avg[:, :, 1], nn.functional.avg_pool1d(x[:, :, 1], 5))


@given(scales=st.integers(1, 6), shift=st.integers(0, 5), seed=st.integers(0, 1000))
def test_scale_pools(scales, shift, seed):
    x = torch.randn(2, 3, scales, 10, generator=torch.Generator().manual_seed(seed))
    top, mean = wn.nn.ScaleMaxPool()(x), wn.nn.ScaleMeanPool()(x)
    assert top.shape == mean.shape == (2, 3, 10)
    # the maximum: no scale above it, and it is one of the scales
    assert all((top >= x[:, :, j]).all() for j in range(scales))
    assert (x == top.unsqueeze(2)).any(dim=2).all()
    # the mean: the scales added one by one, divided by their number
    total = torch.zeros_like(mean)
    for j in range(scales):
        total += x[:, :, j]
    torch.testing.assert_close(mean * scales, total)
    # invariant to a cyclic shift of the scale axis (what a dilation does on the grid)
    torch.testing.assert_close(wn.nn.ScaleMaxPool()(x.roll(shift, dims=2)), top, rtol=0, atol=0)
    torch.testing.assert_close(wn.nn.ScaleMeanPool()(x.roll(shift, dims=2)), mean)


@pytest.mark.parametrize(("time", "scale"), [("mean", "max"), ("max", "mean")])
def test_global_pool(time, scale):
    x = torch.randn(2, 3, 4, 10)
    t = x.mean(3) if time == "mean" else x.amax(3)
    expected = t.amax(2) if scale == "max" else t.mean(2)
    torch.testing.assert_close(wn.nn.GlobalPool(time, scale)(x), expected)


def test_batch_norm_has_one_statistic_per_channel():
    bn = wn.nn.GroupBatchNorm(3)
    x = torch.randn(4, 3, 5, 20) * torch.tensor([1.0, 2.0, 3.0])[None, :, None, None] + 7
    out = bn(x)
    assert bn.running_mean.shape == (3,)
    mean = out.mean(dim=(0, 2, 3))
    std = out.std(dim=(0, 2, 3), unbiased=False)
    torch.testing.assert_close(mean, torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(std, torch.ones(3), atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="4 dimensions"):
        bn(torch.randn(4, 3, 20))


def test_channel_dropout_drops_whole_channels():
    drop = wn.nn.ChannelDropout(0.5)
    x = torch.ones(8, 16, 3, 10)
    out = drop(x)
    flat = out.flatten(2)
    # Every channel map is all zero or all 2 (inverted dropout scaling).
    assert torch.all((flat == 0).all(-1) | (flat == 2).all(-1))
    assert 0 < (flat == 0).all(-1).float().mean() < 1
    drop.eval()
    torch.testing.assert_close(drop(x), x)
    with pytest.raises(ValueError, match="probability"):
        wn.nn.ChannelDropout(1.0)


def test_wavelet_loss_formula():
    model = nn.Sequential(
        wn.nn.LiftingConv1d(1, 4, 5, 3),
        wn.nn.GroupConv1d(4, 2, 3, 2),
        wn.nn.GroupConv1d(2, 2, 1, 2),
    )
    lift, group, pointwise = model
    expected = lift.weight.sum(-1).pow(2).mean() + group.weight.sum((-1, -2)).pow(2).mean()
    loss = wn.wavelet_loss(model)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert lift.weight.grad is not None and pointwise.weight.grad is None


def test_wavelet_loss_vanishes_for_zero_mean_kernels():
    lift = wn.nn.LiftingConv1d(1, 4, 5, 3)
    with torch.no_grad():
        lift.weight -= lift.weight.mean(-1, keepdim=True)
    assert wn.wavelet_loss(lift).item() == pytest.approx(0.0, abs=1e-12)
    assert wn.wavelet_loss(nn.Linear(2, 2)).item() == 0.0

"""The test-set transformation of the scale study: resample, then restore the length."""

from __future__ import annotations

import math

import pytest
import torch

from wavelet_networks.studies.scale import factor_key, resample_to_length


def _sine(n: int, cycles: float) -> torch.Tensor:
    t = torch.arange(n, dtype=torch.float64)
    return torch.sin(2 * math.pi * cycles * t / n)[None, None]


def test_factor_one_is_the_identity() -> None:
    x = torch.randn(3, 1, 100)
    torch.testing.assert_close(resample_to_length(x, 1.0), x)


def test_stretch_crops_the_centre_of_the_dilated_signal() -> None:
    n = 256
    x = _sine(n, 8)  # periodic: the resampling is exact
    y = resample_to_length(x, 2.0)
    assert y.shape == x.shape
    # y(t) = x(t / 2) on the centre half: a sine of half the frequency.
    start = n // 2
    t = torch.arange(start, start + n, dtype=torch.float64)
    expected = torch.sin(2 * math.pi * 8 * (t / 2) / n)[None, None]
    torch.testing.assert_close(y, expected, atol=1e-9, rtol=0)


def test_compression_pads_zeros_on_both_sides_after_normalising() -> None:
    x = _sine(200, 5) * 3 + 1
    y = resample_to_length(x, 0.5, per_series_norm=True)
    assert y.shape == x.shape
    assert torch.all(y[..., :50] == 0) and torch.all(y[..., 150:] == 0)
    core = y[..., 50:150]
    assert core.mean().abs() < 1e-9 and core.std(unbiased=False) == pytest.approx(1.0)
    y2 = resample_to_length(x, 0.5)
    torch.testing.assert_close(y2[..., 50:150], (_sine(100, 5) * 3 + 1), atol=1e-9, rtol=0)


def test_odd_lengths_and_keys() -> None:
    x = torch.randn(2, 1, 101)
    for f in (0.5, 0.71, 1.41, 2.0):
        assert resample_to_length(x, f).shape == x.shape
    assert [factor_key(f) for f in (0.5, 0.71, 1.0, 1.41, 2)] == ["0.5", "0.71", "1", "1.41", "2"]


def test_keep_length_false_returns_the_resampled_series() -> None:
    x = _sine(200, 5) * 3 + 1
    y = resample_to_length(x, 2.0, keep_length=False)
    assert y.shape[-1] == 400
    torch.testing.assert_close(y[..., ::2], x, atol=1e-9, rtol=0)
    z = resample_to_length(x, 0.5, per_series_norm=True, keep_length=False)
    assert z.shape[-1] == 100 and z.mean().abs() < 1e-9

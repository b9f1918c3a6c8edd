"""Resampling augmentation (``--data.augment_resample LO,HI``), shared by every data module."""

from __future__ import annotations

import inspect
import math
from types import SimpleNamespace

import pytest
import torch

from wavelet_networks.data import DATASETS
from wavelet_networks.data.acsf1 import ACSF1DataModule
from wavelet_networks.data.base import parse_resample_range, parse_resample_spec, resample_batch


def test_every_data_module_takes_the_option():
    for name, cls in DATASETS.items():
        params = inspect.signature(cls.__init__).parameters
        assert "augment_resample" in params, name
        assert params["augment_resample"].default is None, name


@pytest.mark.parametrize(("spec", "expected"), [
    ("0.71,1.41", (0.71, 1.41)), (" 0.5 , 2 ", (0.5, 2.0)), ("1,1", (1.0, 1.0)),
    (None, None), ("", None),
])
def test_parse(spec, expected):
    assert parse_resample_range(spec) == expected


@pytest.mark.parametrize(("spec", "expected"), [
    ("0.71,1.41", (0.71, 1.41, 1.0)), ("0.5,2,0.25", (0.5, 2.0, 0.25)), ("1,2,1", (1.0, 2.0, 1.0)),
    (None, None),
])
def test_parse_with_a_fraction_of_batches(spec, expected):
    assert parse_resample_spec(spec) == expected


@pytest.mark.parametrize("spec", ["2,1", "0,2", "a,b", "1.5", "1,2,3", "-1,2", "nan,2",
                                  "1,2,0", "1,2,-0.5", "1,2,nan", "1,2,0.5,1"])
def test_parse_rejects_bad_ranges_by_name(spec):
    with pytest.raises(ValueError, match="augment_resample"):
        parse_resample_range(spec)


def test_bad_range_fails_when_the_module_is_built():
    with pytest.raises(ValueError, match="augment_resample"):
        ACSF1DataModule(augment_resample="2,0.5")


def _module(spec: str | None, training: bool) -> ACSF1DataModule:
    dm = ACSF1DataModule(limit_per_class=2, augment_resample=spec)
    dm.trainer = SimpleNamespace(training=training)
    return dm


def test_training_batches_are_resampled_and_normalised_again():
    x = torch.randn(4, 1, 1460)
    y = torch.arange(4)
    for factor, length in ((0.5, 730), (2.0, 2920)):
        dm = _module(f"{factor},{factor}", training=True)
        xb, yb = dm.on_after_batch_transfer((x, y), 0)
        assert xb.shape == (4, 1, length) and xb.dtype == x.dtype
        assert torch.equal(yb, y)
        # ACSF1 z-scores every series: the resampled ones are z-scored again.
        assert torch.allclose(xb.mean(-1), torch.zeros(4, 1), atol=1e-5)
        assert torch.allclose(xb.std(-1, unbiased=False), torch.ones(4, 1), atol=1e-4)


def test_factors_are_drawn_log_uniformly_within_the_range():
    dm = _module("0.5,2", training=True)
    x = torch.randn(1, 1, 1000)
    torch.manual_seed(0)
    lengths = [dm.on_after_batch_transfer((x, torch.zeros(1)), 0)[0].shape[-1]
               for _ in range(200)]
    factors = torch.tensor(lengths, dtype=torch.float64) / 1000
    assert factors.min() >= 0.5 and factors.max() <= 2.0
    # log-uniform: as many draws below 1 as above, and both ends reached
    assert abs((factors < 1).double().mean().item() - 0.5) < 0.12
    assert factors.min() < 0.55 and factors.max() > 1.8


def test_a_fraction_of_the_batches_is_resampled():
    dm = _module("2,2,0.3", training=True)
    x = torch.randn(1, 1, 100)
    torch.manual_seed(0)
    out = [dm.on_after_batch_transfer((x, torch.zeros(1)), 0)[0] for _ in range(400)]
    resampled = [o.shape[-1] == 200 for o in out]
    assert all(o is x or o.shape[-1] == 200 for o in out)  # the others pass unchanged
    assert abs(sum(resampled) / len(out) - 0.3) < 0.07


def test_validation_and_test_batches_and_the_default_pass_unchanged():
    x, y = torch.randn(2, 1, 1460), torch.arange(2)
    for dm in (_module("0.5,2", training=False), _module(None, training=True)):
        xb, yb = dm.on_after_batch_transfer((x, y), 0)
        assert xb is x and yb is y
    assert _module("0.5,2", training=True).on_after_batch_transfer(None, 0) is None


def test_resample_batch_is_band_limited_resampling():
    t = torch.arange(256, dtype=torch.float64)
    x = torch.cos(2 * math.pi * 5 * t / 256)[None, None].float()
    y = resample_batch(x, 2.0)
    u = torch.arange(512, dtype=torch.float64) / 2
    assert torch.allclose(y[0, 0].double(), torch.cos(2 * math.pi * 5 * u / 256), atol=1e-5)
    assert resample_batch(x, 1.0) is x

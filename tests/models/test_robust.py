"""Scale-robust variants of the zoo: cards, parameter counts, shapes, end-to-end invariance."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wavelet_networks.models import available, build, card
from wavelet_networks.testing import bandlimited_noise, resample

ROBUST = ["w-small-cnn-robust", "w-m3-robust", "w-m5-robust", "w-m11-robust", "w-m18-robust",
          "w-m34-res-robust"]
# Narrow versions that run at the models' full input length in a test.
NARROW = {"w-small-cnn-robust": {"channels": (4, 8, 8)}}


def narrow(name: str, num_classes: int = 10, **kw) -> nn.Module:
    return build(name, num_classes, **{**NARROW.get(name, {"channels": 4}), **kw})


def params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_cards():
    assert set(ROBUST) <= set(available())
    for name in ROBUST:
        c = card(name)
        assert c.family == "wavelet" and c.twin in available()
        assert card(c.twin).family == "baseline"
        assert "scale-proportional" in c.notes


@pytest.mark.parametrize("name", ROBUST)
def test_parameters_within_2_percent_of_the_cnn_twin(name):
    with torch.device("meta"):
        robust, twin = params(build(name, 10)), params(build(card(name).twin, 10))
    assert abs(robust - twin) / twin < 0.02


@pytest.mark.parametrize("name", ROBUST)
def test_head_pools_over_at_least_five_scales(name):
    model = narrow(name).eval()
    length = 2048 if name != "w-small-cnn-robust" else 256
    with torch.no_grad():
        h = model.features(torch.randn(1, 1, length))
    assert h.dim() == 4 and h.shape[2] >= 5, h.shape


@pytest.mark.parametrize("name", ROBUST)
def test_forward_backward_any_length(name):
    model = narrow(name, 3)
    for length in (300, 777):
        x = torch.randn(2, 1, length, requires_grad=True)
        y = model(x)
        assert y.shape == (2, 3)
        y.sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()


def _readout_error(model: nn.Module, x: torch.Tensor, factor: float) -> float:
    model.eval()
    with torch.no_grad():
        r, r_d = model.readout_features(x), model.readout_features(resample(x, factor))
    return ((r_d - r).norm() / r.norm()).item()


def _calibrated(model: nn.Module, length: int) -> nn.Module:
    # Running statistics from noise, so that eval-mode batch norm normalises as after training.
    model.train()
    with torch.no_grad():
        model(bandlimited_noise((4, 1, length), 0.25, torch.Generator().manual_seed(9),
                                dtype=torch.float32))
    return model.eval()


def _zoo_readout_error(model: nn.Module, x: torch.Tensor) -> float:
    # w-small-cnn's invariant head: mean over time, max over scales.
    model.eval()
    with torch.no_grad():
        r, r_d = (model.features(v).mean(-1).amax(-1) for v in (x, resample(x, 2)))
    return ((r_d - r).norm() / r.norm()).item()


def test_small_robust_readout_is_invariant_where_the_zoo_twin_is_not():
    length = 1024
    x = bandlimited_noise((8, 1, length), 0.25, torch.Generator().manual_seed(1),
                          dtype=torch.float32)
    torch.manual_seed(0)
    robust = _calibrated(build("w-small-cnn-robust", 10), length)
    torch.manual_seed(0)
    zoo = _calibrated(build("w-small-cnn", 10), length)
    err_robust, err_zoo = _readout_error(robust, x, 2), _zoo_readout_error(zoo, x)
    assert err_robust < 0.1, err_robust
    assert err_robust < 0.5 * err_zoo, (err_robust, err_zoo)


@pytest.mark.parametrize("name", ["w-m5-robust", "w-m11-robust"])
def test_mnet_robust_readout_is_invariant(name):
    length = 8192
    x = bandlimited_noise((2, 1, length), 0.25, torch.Generator().manual_seed(1),
                          dtype=torch.float32)
    torch.manual_seed(0)
    model = _calibrated(narrow(name), length)
    assert _readout_error(model, x, 2) < 0.1


def test_half_octave_coset_makes_the_readout_invariant_to_sqrt2():
    length = 1024
    x = bandlimited_noise((8, 1, length), 0.2, torch.Generator().manual_seed(1),
                          dtype=torch.float32)
    errors = {}
    for cosets in (1, 2):
        torch.manual_seed(0)
        model = _calibrated(build("w-small-cnn-robust", 10, cosets=cosets), length)
        errors[cosets] = _readout_error(model, x, 2**0.5)
    assert errors[2] < 0.5 * errors[1], errors


def test_bad_options_raise_clear_errors():
    with pytest.raises(ValueError, match="cosets must be 1"):
        build("w-small-cnn-robust", 2, cosets=3)
    with pytest.raises(ValueError, match="oversample must be 1 or 2"):
        build("w-m5-robust", 2, oversample=4)
    with pytest.raises(ValueError, match="scale must be one of"):
        build("w-m11-robust", 2, readout="median")
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 1, time\)"):
        build("w-small-cnn-robust", 2)(torch.randn(2, 500))
    with pytest.raises(ValueError, match="w-m11-robust input"):
        narrow("w-m11-robust")(torch.randn(2, 2, 500))


def test_coset_pass_uses_running_statistics_in_training():
    from wavelet_networks.models.robust import _running_statistics

    # Batch-norm running statistics come from the input's own pass only, as with cosets=1.
    x = torch.randn(4, 1, 300)
    stats = {}
    for cosets in (1, 2):
        torch.manual_seed(0)
        model = build("w-small-cnn-robust", 2, cosets=cosets).train()
        model(x)
        stats[cosets] = [b.clone() for b in model.buffers()]
    assert all(torch.equal(a, b) for a, b in zip(stats[1], stats[2], strict=True))
    # In training, the compressed pass computes what it computes in evaluation.
    features = model.features
    with torch.no_grad():
        evaluated = features.eval()(x)
        features.train()
        with _running_statistics(features):
            trained = features(x)
        assert torch.equal(trained, evaluated)
        assert all(m.training for m in features.modules())
        assert not torch.equal(features(x), evaluated)  # outside: batch statistics

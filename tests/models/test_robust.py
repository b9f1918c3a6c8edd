"""Scale-robust variants of the zoo: cards, parameter counts, shapes, end-to-end invariance."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wavelet_networks.models import available, build, card
from wavelet_networks.testing import bandlimited_noise, calibrate_batch_norm, resample

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
        profile = model.scale_profile(torch.randn(1, 1, length))
    read = h.shape[2] - model.skip_finest
    assert h.dim() == 4 and read >= 5, (h.shape, model.skip_finest)
    assert profile.shape[-1] == read * model.cosets


@pytest.mark.parametrize("name", ROBUST)
def test_forward_backward_any_length(name):
    model = narrow(name, 3)
    for length in (300, 777):
        x = torch.randn(2, 1, length, requires_grad=True)
        y = model(x)
        assert y.shape == (2, 3)
        y.sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()


def _calibrated(model: nn.Module, length: int) -> nn.Module:
    return calibrate_batch_norm(model, (4, 1, length), generator=torch.Generator().manual_seed(9))


def _matching_error(a: torch.Tensor, b: torch.Tensor, steps: int) -> float:
    """Worst relative error of ``b[..., k + steps]`` against ``a[..., k]`` (time means per scale)."""
    return max(((b[..., k + steps] - a[..., k]).norm() / a[..., k].norm()).item()
               for k in range(a.shape[-1] - steps))


def _noise(batch: int, length: int, cutoff: float = 0.25) -> torch.Tensor:
    return bandlimited_noise((batch, 1, length), cutoff, torch.Generator().manual_seed(1),
                             dtype=torch.float32)


def test_readout_matches_at_every_scale_where_the_zoo_twin_does_not():
    # Random weights, band-limited noise stretched by 2: the time means per scale of the
    # robust model's features shift by one scale (two steps of the interleaved cosets).
    length = 1460
    x = _noise(8, length)
    torch.manual_seed(0)
    robust = _calibrated(build("w-small-cnn-robust", 10), length)
    torch.manual_seed(0)
    zoo = _calibrated(build("w-small-cnn", 10), length)
    with torch.no_grad():
        err_robust = _matching_error(robust.scale_profile(x),
                                     robust.scale_profile(resample(x, 2)), 2)
        err_zoo = _matching_error(zoo.features(x).mean(-1),
                                  zoo.features(resample(x, 2)).mean(-1), 1)
    assert err_robust < 0.1, err_robust
    assert err_zoo > 0.3, err_zoo


def _mnet_readout_error(name: str, **overrides) -> float:
    """Worst readout error at matching scales, random weights (``C = 8``), 32,000 samples."""
    length = 32000
    x = _noise(2, length)
    torch.manual_seed(0)
    model = _calibrated(build(name, 10, channels=8, cosets=1, **overrides), length)
    with torch.no_grad():
        return _matching_error(model.scale_profile(x), model.scale_profile(resample(x, 2)), 1)


@pytest.mark.parametrize("name", ["w-m3-robust", "w-m5-robust", "w-m11-robust", "w-m18-robust",
                                  "w-m34-res-robust"])
def test_mnet_readout_matches_at_every_read_out_scale(name):
    err = _mnet_readout_error(name)
    assert err < 0.1, err


@pytest.mark.parametrize("name", ["w-m11-robust", "w-m18-robust", "w-m34-res-robust"])
def test_deep_mnets_would_miss_without_skipping_the_finest_scales(name):
    # 9 lifting scales, every head scale read out: the finest ones alias at the deep layers.
    err = _mnet_readout_error(name, num_scales=9, skip_finest=0)
    assert err > 0.15, err


def test_half_octave_coset_shifts_by_one_step_under_sqrt2():
    length = 1460
    x = _noise(8, length, cutoff=0.2)
    torch.manual_seed(0)
    model = _calibrated(build("w-small-cnn-robust", 10), length)
    with torch.no_grad():
        a, b = model.scale_profile(x), model.scale_profile(resample(x, 2**0.5))
    assert a.shape[-1] == 10
    assert _matching_error(a, b, 1) < 0.1
    assert _matching_error(a, b, 0) > 0.3  # not the same scales: shifted by half an octave


def test_scales_readout_is_equivariant_not_invariant():
    # readout="scales": the head reads the profile, which a dilation by 2 shifts by two
    # steps (one scale, two cosets); the features are the invariant model's.
    length = 1460
    x = _noise(8, length)
    torch.manual_seed(0)
    model = _calibrated(build("w-small-cnn-robust", 10, readout="scales"), length)
    assert model.head[-1].in_features == 48 * 5 * 2
    with torch.no_grad():
        r, r_d = model.readout_features(x), model.readout_features(resample(x, 2))
        profile = model.scale_profile(x) - model.scale_profile(torch.zeros(1, 1, length))
    assert torch.allclose(r, profile.flatten(1), atol=1e-6)
    r, r_d = r.view(8, 48, 10), r_d.view(8, 48, 10)
    shifted = ((r_d[..., 2:] - r[..., :-2]).norm() / r[..., :-2].norm()).item()
    unshifted = ((r_d - r).norm() / r.norm()).item()
    assert shifted < 0.1 < unshifted, (shifted, unshifted)


def test_bad_options_raise_clear_errors():
    with pytest.raises(ValueError, match="cosets must be 1"):
        build("w-small-cnn-robust", 2, cosets=3)
    with pytest.raises(ValueError, match="oversample must be 1 or 2"):
        build("w-m5-robust", 2, oversample=4)
    with pytest.raises(ValueError, match="readout must be one of"):
        build("w-m11-robust", 2, readout="median")
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 1, time\)"):
        build("w-small-cnn-robust", 2)(torch.randn(2, 500))
    with pytest.raises(ValueError, match="w-m11-robust input"):
        narrow("w-m11-robust")(torch.randn(2, 2, 500))
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="skip_finest must be an integer >= 0"):
            build("w-small-cnn-robust", 2, skip_finest=bad)
    with pytest.raises(ValueError, match=r"skip_finest \(5\) must be smaller than the 5 scales"):
        build("w-small-cnn-robust", 2, skip_finest=5)


@pytest.mark.parametrize("readout", ["taper", "scales"])
def test_skip_finest_leaves_the_finest_head_scales_out_of_the_readout(readout):
    x = torch.randn(2, 1, 600)
    torch.manual_seed(0)
    full = build("w-small-cnn-robust", 2, cosets=1, readout=readout).eval()
    torch.manual_seed(0)
    skipped = build("w-small-cnn-robust", 2, cosets=1, readout=readout, skip_finest=2).eval()
    assert skipped.head[-1].in_features == (48 * 3 if readout == "scales" else 48)
    skipped.features.load_state_dict(full.features.state_dict())
    with torch.no_grad():
        assert torch.equal(skipped.scale_profile(x), full.scale_profile(x)[..., 2:])


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


def test_readout_subtracts_the_empty_input():
    x = torch.randn(3, 1, 400)
    torch.manual_seed(0)
    model = build("w-small-cnn-robust", 2).train()
    torch.manual_seed(0)
    plain = build("w-small-cnn-robust", 2, cosets=1).train()
    model(x)
    plain.features(x)  # the input's own pass: what updates the running statistics
    for a, b in zip(model.buffers(), plain.buffers(), strict=True):
        assert torch.equal(a, b)
    model.eval()
    with torch.no_grad():
        assert model.readout_features(torch.zeros(2, 1, 400)).abs().max() < 1e-6
        assert model.readout_features(x).abs().max() > 0
        expected = model.scale_profile(x) - model.scale_profile(torch.zeros(1, 1, 400))
        from wavelet_networks.functional import scale_readout_weights

        w = scale_readout_weights(expected.shape[-1], "taper")
        assert torch.allclose(model.readout_features(x), expected @ w, atol=1e-5)
        off = build("w-small-cnn-robust", 2, subtract_empty=False).eval()
        off.load_state_dict(model.state_dict())
        assert torch.allclose(off.readout_features(x), model.scale_profile(x) @ w, atol=1e-5)


def _exports(name: str, length: int, **kw) -> None:
    import wavelet_networks as wn

    torch.manual_seed(0)
    model = narrow(name, 3, **kw).eval()
    x = torch.randn(2, 1, length)
    with wn.reference_mode():
        program = torch.export.export(model, (x,))
    want = model(x)  # on the fast paths
    got = program.module()(x)
    assert ((got - want).norm() / want.norm()).item() < 1e-5


def test_robust_model_exports_with_torch_export():
    _exports("w-small-cnn-robust", 500, skip_finest=1)


@pytest.mark.slow
@pytest.mark.parametrize("name", ROBUST[1:])
def test_every_robust_mnet_exports_with_torch_export(name):
    _exports(name, 4000)

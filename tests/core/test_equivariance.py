"""Measured equivariance: the numbers docs/equivariance.md quotes come from these checks."""

import itertools
import math

import pytest
import torch
from torch import nn

import wavelet_networks as wn
from wavelet_networks.testing import (
    bandlimited_noise,
    calibrate_batch_norm,
    dilation_error,
    resample,
    translation_error,
)

TRANSLATION_TOL = 1e-5  # float32, away from borders
LIFTING_DILATION_TOL = 2e-3  # float64, every scale


def four_layer_stack() -> nn.Module:
    return nn.Sequential(
        wn.nn.LiftingConv1d(1, 8, 9, 6),
        wn.nn.GroupBatchNorm(8),
        nn.ReLU(),
        wn.nn.GroupConv1d(8, 8, 3, 2),
        wn.nn.GroupBatchNorm(8),
        nn.ReLU(),
        wn.nn.GroupConv1d(8, 8, 3, 2, scale_boundary="truncate"),
        wn.nn.GroupBatchNorm(8),
        nn.ReLU(),
        wn.nn.GroupConv1d(8, 4, 3, 1),
    )


def _trained_bn(model: nn.Module) -> nn.Module:
    # Non-trivial running statistics, so eval-mode batch norm is not the identity.
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 1, 512) * 3 + 1)
    return model


@pytest.mark.parametrize(
    ("name", "make", "x_shape"),
    [
        ("lifting", lambda: wn.nn.LiftingConv1d(2, 6, 11, 5), (2, 2, 1024)),
        ("lifting base 1.5", lambda: wn.nn.LiftingConv1d(1, 6, 7, 4, base=1.5), (2, 1, 1024)),
        ("group crop", lambda: wn.nn.GroupConv1d(3, 5, 5, 3), (2, 3, 6, 1024)),
        (
            "group truncate",
            lambda: wn.nn.GroupConv1d(3, 5, 5, 3, scale_boundary="truncate"),
            (2, 3, 6, 1024),
        ),
        ("max pool stride 1", lambda: wn.nn.TimeMaxPool(5, stride=1, padding=2), (2, 3, 4, 512)),
        ("avg pool stride 1", lambda: wn.nn.TimeAvgPool(5, stride=1, padding=2), (2, 3, 4, 512)),
        ("4-layer stack", lambda: _trained_bn(four_layer_stack()), (2, 1, 1024)),
    ],
)
@pytest.mark.parametrize("shift", [1, 7, -12])
def test_translation_equivariance_float32(name, make, x_shape, shift):
    x = torch.randn(x_shape)
    assert translation_error(make(), x, shift) < TRANSLATION_TOL


def test_strided_modules_shift_by_whole_output_steps():
    pool = wn.nn.TimeMaxPool(4)
    x = torch.randn(2, 3, 4, 512)
    assert translation_error(pool, x, shift=8) < TRANSLATION_TOL
    with pytest.raises(ValueError, match="multiple of the module's time stride 4"):
        translation_error(pool, x, shift=3)


def test_invariant_head_is_translation_invariant():
    model = nn.Sequential(wn.nn.LiftingConv1d(1, 4, 9, 4), nn.ReLU(), wn.nn.GlobalPool())
    x = torch.zeros(2, 1, 1024)
    x[..., 400:600] = torch.randn(2, 1, 200)  # compact support: no wrap-around effects
    assert translation_error(model, x, 37) < TRANSLATION_TOL


def test_lifting_dilation_error_per_scale():
    x = bandlimited_noise((2, 1, 4096), cutoff=0.25, generator=torch.Generator().manual_seed(0))
    lift = wn.nn.LiftingConv1d(1, 8, 9, 7).double()
    errors = dilation_error(lift, x, factor=2, per_scale=True)
    assert len(errors) == 6
    assert max(errors) < LIFTING_DILATION_TOL


def test_lifting_dilation_non_integer_base():
    # base sqrt(2): a dilation by 2 is two steps of the grid; kernels are sampled directly.
    x = bandlimited_noise((1, 1, 4096), cutoff=0.25, generator=torch.Generator().manual_seed(1))
    lift = wn.nn.LiftingConv1d(1, 4, 7, 6, base=math.sqrt(2)).double()
    errors = dilation_error(lift, x, factor=2, base=math.sqrt(2), per_scale=True)
    assert len(errors) == 4
    # Sampling psi_s at non-integer s aliases more than at integer s, where the
    # B-spline's spectral zeros fall on the aliases: measured 5e-4 to 1e-2.
    assert errors[0] < LIFTING_DILATION_TOL
    assert max(errors) < 2e-2


def test_lifting_relu_group_stack_dilation_error_falls_with_scale():
    x = bandlimited_noise((2, 1, 4096), cutoff=0.25, generator=torch.Generator().manual_seed(0))
    stack = nn.Sequential(
        wn.nn.LiftingConv1d(1, 8, 9, 7), nn.ReLU(), wn.nn.GroupConv1d(8, 8, 3, 3)
    ).double()
    errors = dilation_error(stack, x, factor=2, per_scale=True)
    assert len(errors) == 4
    assert errors[0] < 2e-2
    assert all(a > b for a, b in itertools.pairwise(errors))
    # The ReLU's aliasing at the third output scale measures 2.1e-3 to 2.5e-3 over
    # seeds (docs/equivariance.md): above the 2e-3 asked for, below 3e-3.
    assert errors[2] < 3e-3
    assert errors[3] < 2e-3


def test_linear_stack_is_far_more_equivariant_than_relu_stack():
    # Without the ReLU there is nothing to alias: this pins the source of the error above.
    x = bandlimited_noise((2, 1, 4096), cutoff=0.25, generator=torch.Generator().manual_seed(0))
    stack = nn.Sequential(wn.nn.LiftingConv1d(1, 8, 9, 7), wn.nn.GroupConv1d(8, 8, 3, 3)).double()
    assert max(dilation_error(stack, x, per_scale=True)) < 2e-3


def test_dilation_error_detects_a_non_equivariant_module():
    # A plain conv ignores the scale axis: the check must report a large error.
    x = bandlimited_noise((1, 1, 2048), generator=torch.Generator().manual_seed(2))
    conv = nn.Conv1d(1, 4, 9, padding=4).double()
    assert dilation_error(conv, x) > 0.1


def test_translation_error_detects_position_dependence():
    class Ramp(nn.Module):
        def forward(self, x):
            return x * torch.linspace(0, 1, x.shape[-1])

    assert translation_error(Ramp(), torch.randn(1, 1, 256), 5) > 0.01


def test_checks_restore_training_mode():
    model = four_layer_stack()
    model.train()
    translation_error(model, torch.randn(2, 1, 256), 1)
    assert model.training


@pytest.mark.parametrize("check", ["translation", "dilation"])
def test_checks_restore_the_mode_of_every_submodule(check):
    # An eval-mode model measured through a train-mode wrapper keeps its eval mode.
    model = four_layer_stack().eval()
    wrapper = nn.Sequential(model)  # a fresh module is in train mode; the model stays in eval
    assert wrapper.training and not model.training
    x = torch.randn(2, 1, 256)
    if check == "translation":
        translation_error(wrapper, x, 1)
    else:
        dilation_error(wrapper, x)
    assert wrapper.training
    assert not any(m.training for m in model.modules())


@pytest.mark.parametrize("factor", [2, 3, 0.5])
def test_resample_is_band_limited_interpolation(factor):
    n = 256
    t = torch.arange(n, dtype=torch.float64)
    x = torch.cos(2 * math.pi * 5 * t / n) + 0.5 * torch.sin(2 * math.pi * 11 * t / n)
    y = resample(x, factor)
    m = round(n * factor)
    u = torch.arange(m, dtype=torch.float64) / factor
    expected = torch.cos(2 * math.pi * 5 * u / n) + 0.5 * torch.sin(2 * math.pi * 11 * u / n)
    torch.testing.assert_close(y, expected, atol=1e-10, rtol=0)


def test_bandlimited_noise_has_no_energy_above_cutoff():
    x = bandlimited_noise((4, 1024), cutoff=0.25, generator=torch.Generator().manual_seed(0))
    spec = torch.fft.rfft(x).abs()
    assert spec[:, 130:].max() < 1e-9 and spec[:, :120].mean() > 1


def test_calibrate_batch_norm_sets_the_running_statistics_of_noise():
    norm = nn.BatchNorm1d(2, momentum=0.1)
    norm.running_mean.fill_(5.0)
    model = nn.Sequential(nn.Conv1d(1, 2, 3), norm)
    shape, gen = (3, 1, 64), torch.Generator().manual_seed(4)
    assert calibrate_batch_norm(model, shape, batches=3, generator=gen) is model
    assert not model.training and not norm.training
    # the plain average over the same three noise batches, as momentum=None gives
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        means = [model[0](bandlimited_noise(shape, 0.25, gen, dtype=torch.float32)).mean((0, 2))
                 for _ in range(3)]
    assert torch.allclose(norm.running_mean, torch.stack(means).mean(0), atol=1e-6)
    assert norm.num_batches_tracked == 3

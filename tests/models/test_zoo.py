"""The model zoo: parameter counts, shapes, forward/backward, input checks, weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import wavelet_networks as wn
from wavelet_networks.models import available, build, card
from wavelet_networks.models.registry import overrides

BASELINES = ["m3", "m5", "m11", "m18", "m34-res", "1d-cnn", "samplecnn"]
TWINS = [f"w-{n}" for n in BASELINES]
ZOO = BASELINES + TWINS
# Reference parameter counts (shared/reference/architectures.md), 10 classes / 50 tags.
REFERENCE = {
    "m3": 220_672, "m5": 558_080, "m11": 1_784_192, "m18": 3_679_872, "m34-res": 3_978_432,
    "1d-cnn": 453_418, "samplecnn": 2_394_162,
    "w-m3": 219_450, "w-m5": 558_034, "w-m11": 1_806_369, "w-m18": 3_758_865,
    "w-m34-res": 4_020_525, "w-1d-cnn": 458_614, "w-samplecnn": 2_403_860,
}  # fmt: skip
# Width that keeps the wavelet nets cheap enough to run at full length on a CPU.
SMALL = {"channels": 4}


def n_out(name: str) -> int:
    return 50 if "samplecnn" in name else 10


def meta(name: str, **kw) -> nn.Module:
    with torch.device("meta"):
        return build(name, n_out(name), **kw)


def params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_names_and_cards():
    assert set(ZOO) <= set(available())
    for name in ZOO:
        c = card(name)
        assert c.name == name
        assert c.family == ("wavelet" if name.startswith("w-") else "baseline")
        assert card(c.twin).twin == name
        assert c.reference_params == REFERENCE[name]
        assert c.sample_rate in (16000, 22050)
        assert c.input_length in (64000, 88200, 59049)
        assert c.paper and c.paper_result and c.notes
        assert c.extra["num_classes"] == n_out(name)
    assert card("samplecnn").task == card("w-samplecnn").task == "multilabel"


@pytest.mark.parametrize("name", ZOO)
def test_parameter_count_matches_reference(name):
    # Every model reproduces the reference implementation's count exactly (within 1% required).
    assert params(meta(name)) == REFERENCE[name]


@pytest.mark.parametrize("name", BASELINES)
def test_twin_parameters_within_5_percent(name):
    base, twin = params(meta(name)), params(meta(card(name).twin))
    assert abs(twin - base) / base < 0.05


@pytest.mark.parametrize("name", ZOO)
def test_forward_backward_shortest_input(name):
    """The shortest accepted input; wavelet nets at reduced width (CPU time)."""
    model = build(name, n_out(name), **(SMALL if name.startswith("w-") else {}))
    if model.max_length is not None:
        pytest.skip("flattening head: only inputs of about the expected length fit")
    x = torch.randn(2, 1, model.min_length)
    out = model(x)
    assert out.shape == (2, n_out(name))
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert grads[0].abs().sum() > 0  # the first layer gets gradient


@pytest.mark.parametrize("name", ZOO)
def test_forward_backward_expected_length(name):
    """The paper's input length at full width, forward and backward, on the CPU.

    All 14 models together take about 15 s on an idle 2-core machine.
    """
    length = card(name).input_length
    batch = 2 if "samplecnn" in name else 1  # SampleCNNs end on one time step: BN needs 2
    model = build(name, n_out(name))
    out = model(torch.randn(batch, 1, length))
    assert out.shape == (batch, n_out(name)) and torch.isfinite(out).all()
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert grads[0].abs().sum() > 0


def _features_time(model: nn.Module, length: int) -> int | None:
    """Time steps the layers (without the input check) leave, None if they fail."""
    x = torch.empty(2, 1, length, device="meta")
    try:
        return model.features(x).shape[-1]
    except RuntimeError:
        return None


@pytest.mark.parametrize("name", ZOO)
def test_accepted_lengths_are_exact(name):
    model = meta(name).eval()
    lo, hi = model.min_length, model.max_length
    assert lo <= card(name).input_length
    if hi is None:  # global pooling: the layers fail just below the minimum
        assert _features_time(model, lo) >= 1
        assert _features_time(model, lo - 1) is None
    else:  # flattening head: exactly final_length time steps inside [lo, hi]
        assert lo <= card(name).input_length <= hi
        assert _features_time(model, lo) == _features_time(model, hi) == model.final_length
        assert _features_time(model, lo - 1) in (None, model.final_length - 1)
        assert _features_time(model, hi + 1) == model.final_length + 1


@pytest.mark.parametrize("name", ZOO)
def test_bad_inputs_raise_clear_errors(name):
    model = meta(name)
    lo = model.min_length
    with pytest.raises(ValueError, match="3 dimensions"):
        model(torch.empty(2, lo, device="meta"))
    with pytest.raises(ValueError, match="3 dimensions"):
        model(torch.empty(2, 1, 1, lo, device="meta"))
    with pytest.raises(ValueError, match="1 channels"):
        model(torch.empty(2, 2, lo, device="meta"))
    with pytest.raises(ValueError, match=f"too short.*{lo}"):
        model(torch.empty(2, 1, lo - 1, device="meta"))
    if model.max_length is not None:
        with pytest.raises(ValueError, match=f"too long.*{model.max_length}"):
            model(torch.empty(2, 1, model.max_length + 1, device="meta"))
    two = meta(name, in_channels=2)
    two.check_input(torch.empty(1, 2, lo, device="meta"))
    with pytest.raises(ValueError, match="2 channels"):
        two(torch.empty(1, 1, lo, device="meta"))


@pytest.mark.parametrize("name", ZOO)
def test_weights_round_trip(name, tmp_path):
    model = build(name, n_out(name))
    path = tmp_path / "w.pt"
    torch.save(model.state_dict(), path)
    loaded = build(name, n_out(name), weights=path)
    for (k, a), (k2, b) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert k == k2 and torch.equal(a, b)
    # A checkpoint of another width, or another number of classes, is refused clearly.
    torch.save(build(name, n_out(name), channels=4).state_dict(), path)
    with pytest.raises(ValueError, match=f"do not match the architecture of '{name}'"):
        build(name, n_out(name), weights=path)
    torch.save(build(name, 3).state_dict(), path)
    with pytest.raises(ValueError, match="shape mismatch"):
        build(name, n_out(name), weights=path)


@pytest.mark.parametrize("name", ZOO)
def test_overrides(name):
    opts = overrides(name)
    assert {"channels", "dropout"} <= set(opts)
    if name.startswith("w-"):
        assert {"num_scales", "scale_kernel_size"} <= set(opts)
    # Every documented override is accepted; unknown ones are not.
    meta(name, **opts)
    small = meta(name, channels=opts["channels"] // 2)
    assert params(small) < REFERENCE[name]
    with pytest.raises(TypeError):
        meta(name, colour="blue")
    with pytest.raises(ValueError, match="dropout"):
        meta(name, dropout=1.5)


def test_dropout_override_adds_dropout_layers():
    model = meta("w-m5", dropout=0.3)
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 4 and all(d.p == 0.3 for d in drops)  # stem + 3 stages
    assert not any(isinstance(m, nn.Dropout) for m in meta("w-m5").modules())


@pytest.mark.parametrize(("name", "num_scales"), [("w-m11", 8), ("w-m3", 4), ("w-samplecnn", 8)])
def test_too_few_scales_fail_at_construction(name, num_scales):
    with pytest.raises(ValueError, match="scales"):
        meta(name, num_scales=num_scales)
    meta(name, num_scales=num_scales + 1)


@pytest.mark.parametrize("name", TWINS)
def test_twins_use_only_library_layers(name):
    """Convolutions are wn.nn layers, batch norm has one statistic per channel, no biases."""
    model = meta(name)
    kinds = {type(m) for m in model.modules()}
    assert not kinds & {nn.Conv1d, nn.BatchNorm1d, nn.BatchNorm2d, nn.MaxPool1d}
    assert wn.nn.LiftingConv1d in kinds and wn.nn.GroupConv1d in kinds
    for m in model.modules():
        if isinstance(m, (wn.nn.LiftingConv1d, wn.nn.GroupConv1d)):
            assert m.bias is None
        if isinstance(m, wn.nn.GroupBatchNorm):
            assert m.running_mean.shape == (m.num_features,)
    lifting = next(m for m in model.modules() if isinstance(m, wn.nn.LiftingConv1d))
    assert lifting.num_scales == 9 and lifting.stride == 1


@pytest.mark.parametrize("name", ["w-m3", "w-m34-res", "w-samplecnn"])
def test_wavelet_loss_sees_every_spline_layer(name):
    model = meta(name)
    layers = [
        m
        for m in model.modules()
        if isinstance(m, (wn.nn.LiftingConv1d, wn.nn.GroupConv1d)) and m.kernel_size > 1
    ]
    assert len(layers) >= 2 and isinstance(layers[0], wn.nn.LiftingConv1d)
    assert wn.wavelet_loss(model).shape == ()
    assert (
        wn.wavelet_loss(build(card(name).twin, n_out(name))).item() == 0
    )  # baselines have no spline layers


@pytest.mark.parametrize("name", ["m5", "w-m5", "1d-cnn"])
def test_multichannel_input(name):
    model = build(name, 4, in_channels=2, **({"channels": 4} if name.startswith("w-") else {}))
    x = torch.randn(2, 2, model.min_length)
    assert model(x).shape == (2, 4)


@pytest.mark.parametrize("name", ["small-cnn", "w-small-cnn"])
def test_small_models_name_their_shortest_input(name):
    """``min_length`` is exact: the layers run there and fail one sample below, where the
    model's own check names the length instead."""
    model = build(name, 3).eval()
    lo = model.min_length
    assert model(torch.randn(2, 1, lo)).shape == (2, 3)
    assert _features_time(model, lo - 1) is None
    with pytest.raises(ValueError, match=f"too short: {lo - 1} samples.*at least {lo}"):
        model(torch.randn(2, 1, lo - 1))


def test_w_small_cnn_heads_pool_the_scales_or_read_them_all():
    torch.manual_seed(0)
    x = torch.randn(3, 1, 256)
    models = {pool: build("w-small-cnn", 5, scale_pool=pool).eval() for pool in ("max", "mean",
                                                                                 "none")}
    models["mean"].load_state_dict(models["max"].state_dict())  # same shapes, same weights
    h = models["max"].features(x).mean(dim=-1)  # (batch, C, 2 scales)
    head = models["max"].head
    assert torch.allclose(models["max"](x), head(h.amax(dim=-1)))
    assert torch.allclose(models["mean"](x), head(h.mean(dim=-1)))
    assert not torch.allclose(models["max"](x), models["mean"](x))
    # "none": the linear map reads channels x scales (48 x 2)
    assert models["none"].head[1].in_features == 2 * models["max"].head[1].in_features
    assert models["none"](x).shape == (3, 5)
    with pytest.raises(ValueError, match="scale_pool"):
        build("w-small-cnn", 5, scale_pool="sum")


def test_w_small_cnn_spline_order_reaches_every_spline_layer():
    """``spline_order`` sets the B-spline degree of the lifting and both group convolutions;
    the same weights then give another function, and a degree without splines is refused."""
    from wavelet_networks.nn.conv import _SplineConv

    torch.manual_seed(0)
    x = torch.randn(2, 1, 128)
    linear, quadratic = (build("w-small-cnn", 4, spline_order=n).eval() for n in (1, 2))
    orders = [m.spline_order for m in linear.modules() if isinstance(m, _SplineConv)]
    assert orders == [1, 1, 1]
    linear.load_state_dict(quadratic.state_dict())
    assert not torch.allclose(linear(x), quadratic(x))
    with pytest.raises(ValueError, match="order"):
        build("w-small-cnn", 4, spline_order=-1)

"""The contract of every public layer (:class:`wavelet_networks.nn.EquivariantModule`).

For each layer of ``wavelet_networks.nn``: its shape arithmetic is what the
forward pass does (CPU and meta device), its receptive extent bounds what one
input sample reaches, it is exactly translation equivariant and (where it
claims to be) dilation equivariant per scale up to a measured error, it
passes gradcheck, ``torch.compile`` (and ``fullgraph=True`` on the reference
path), a state-dict round trip and ``reset_parameters``, and it keeps the
constructor conventions (``device``/``dtype``, keyword-only tuning, a
complete ``repr``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import nn

import wavelet_networks as wn
from wavelet_networks.testing import bandlimited_noise, dilation_error, translation_error


def _lift(**factory) -> nn.Module:
    """A fixed lifting layer that turns band-limited noise into group features."""
    torch.manual_seed(11)
    return wn.nn.LiftingConv1d(1, 3, 7, 5, **factory)


@dataclass
class Spec:
    make: Callable[..., nn.Module]
    shape: tuple[int, ...]  # input (batch, channels, [scales,] time)
    dilation: float | None = None  # bound of the per-scale dilation error (None: no claim)
    why_not: str = ""  # why the layer makes no dilation claim

    def build(self, **factory) -> nn.Module:
        torch.manual_seed(0)
        layer = self.make(**factory)
        return layer


POOL = "a pool over a fixed time window covers a different span of the dilated signal"
# Dilation bounds: measured errors (float64 band-limited noise, dilated by 2) times about 2.
LAYERS: dict[str, Spec] = {
    "LiftingConv1d": Spec(lambda **f: wn.nn.LiftingConv1d(1, 3, 7, 5, bias=True, **f),
                          (2, 1, 512), dilation=2e-3),
    "LiftingConv1d valid, stride 2": Spec(
        lambda **f: wn.nn.LiftingConv1d(2, 3, 5, 3, padding="valid", stride=2, **f), (2, 2, 256)),
    "GroupConv1d": Spec(lambda **f: wn.nn.GroupConv1d(3, 4, 5, 2, bias=True, **f),
                        (2, 3, 5, 512), dilation=2e-3),
    "GroupConv1d truncate, valid, stride 2": Spec(
        lambda **f: wn.nn.GroupConv1d(3, 2, 3, 3, scale_boundary="truncate", padding="valid",
                                      stride=2, **f), (2, 3, 4, 256)),
    "GroupConv1d base 1.5": Spec(lambda **f: wn.nn.GroupConv1d(3, 2, 3, 2, base=1.5, **f),
                                 (2, 3, 4, 256)),
    "LiftingConvMaxPool1d": Spec(lambda **f: wn.nn.LiftingConvMaxPool1d(1, 3, 5, 3, 4, **f),
                                 (2, 1, 256), why_not=POOL),
    "LiftingStem": Spec(lambda **f: wn.nn.LiftingStem(1, 3, 5, 3, (2, 2), **f), (2, 1, 256),
                        why_not=POOL),
    "GroupBatchNorm": Spec(lambda **f: wn.nn.GroupBatchNorm(3, **f), (2, 3, 5, 512),
                           dilation=2e-3),
    "ChannelDropout": Spec(lambda **f: wn.nn.ChannelDropout(0.3), (2, 3, 5, 512), dilation=2e-3),
    "TimeMaxPool": Spec(lambda **f: wn.nn.TimeMaxPool(4), (2, 3, 2, 64), why_not=POOL),
    "TimeMaxPool overlapping": Spec(lambda **f: wn.nn.TimeMaxPool(5, 1, 2), (2, 3, 2, 64),
                                    why_not=POOL),
    "TimeAvgPool": Spec(lambda **f: wn.nn.TimeAvgPool(3, 1, 1), (2, 3, 2, 64), why_not=POOL),
    "ScaleMaxPool": Spec(lambda **f: wn.nn.ScaleMaxPool(), (2, 3, 5, 512),
                         why_not="the maximum over scales sees the scale that falls off the grid"),
    "ScaleMeanPool": Spec(lambda **f: wn.nn.ScaleMeanPool(), (2, 3, 5, 512),
                          why_not="the mean over scales sees the scale that falls off the grid"),
    "GlobalPool": Spec(lambda **f: wn.nn.GlobalPool(), (2, 3, 5, 512),
                       why_not="the maximum over scales sees the scale that falls off the grid"),
    # measured 1.2e-2 at the finest matching scale falling to 4e-3 at the fourth (stride 4 or 2)
    "ScaleProportionalMaxPool": Spec(lambda **f: wn.nn.ScaleProportionalMaxPool(4),
                                     (2, 3, 5, 512), dilation=2.5e-2),
    "ScaleProportionalMaxPool overlapping": Spec(
        lambda **f: wn.nn.ScaleProportionalMaxPool(4, 2), (2, 3, 5, 512), dilation=2.5e-2),
    "ScaleReadout": Spec(lambda **f: wn.nn.ScaleReadout(), (2, 3, 5, 512),
                         why_not="the scale that falls off the grid still has a small weight"),
    # a ReLU's harmonics beyond (2L - 1) times Nyquist still alias: measured 2.2e-2 at the
    # finest scale falling to 5e-3 at the fifth (a plain ReLU: 4 to 10 times more)
    "AntiAliased": Spec(lambda **f: wn.nn.AntiAliased(torch.tanh, 3), (2, 3, 5, 512),
                        dilation=4e-2),
    "AntiAliasedReLU": Spec(lambda **f: wn.nn.AntiAliasedReLU(), (2, 3, 5, 512), dilation=4e-2),
}
CASES = list(LAYERS)


def _eval(layer: nn.Module) -> nn.Module:
    """Non-trivial batch-norm statistics, then evaluation mode."""
    for m in layer.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                if m.weight is not None:
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.5, 0.5)
    return layer.eval()


def _input(spec: Spec, dtype=torch.float64, device="cpu", seed=1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(spec.shape, generator=gen, dtype=dtype).to(device)


def _scales(spec: Spec) -> int | None:
    return spec.shape[2] if len(spec.shape) == 4 else None


def test_every_public_layer_is_covered():
    public = {name for name in wn.nn.__all__ if name != "EquivariantModule"}
    covered = {type(spec.build()).__name__ for spec in LAYERS.values()}
    assert public == covered
    for name in public:
        assert issubclass(getattr(wn.nn, name), wn.nn.EquivariantModule), name


# --------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_shape_arithmetic_is_the_forward_pass(case, device):
    spec = LAYERS[case]
    layer = _eval(spec.build(dtype=torch.float64)).to(device)
    for extra in (0, 1, 7):
        shape = (*spec.shape[:-1], spec.shape[-1] + extra)
        x = torch.zeros(shape, dtype=torch.float64, device=device)
        with torch.no_grad():
            y = layer(x)
        assert y.device.type == device
        scales = layer.output_scales(_scales(spec))
        if y.dim() == 2:  # pooled over scales and time
            assert scales is None and layer.output_length(shape[-1], _scales(spec)) == 1
            continue
        assert y.shape[-1] == layer.output_length(shape[-1], _scales(spec))
        assert (y.shape[2] if y.dim() == 4 else None) == scales


@pytest.mark.parametrize("case", CASES)
def test_receptive_extent_bounds_what_one_sample_reaches(case):
    spec = LAYERS[case]
    layer = _eval(spec.build(dtype=torch.float64))
    extent = layer.receptive_extent(_scales(spec))
    if extent is None:
        pytest.skip("every output sample reads the whole input")
    x = _input(spec)
    centre = spec.shape[-1] // 2
    bumped = x.clone()
    bumped[..., centre] += 100.0
    with torch.no_grad():
        changed = (layer(bumped) - layer(x)).abs().flatten(0, -2).amax(0) > 1e-9
    reached = changed.nonzero().flatten()
    assert len(reached) > 0
    span = (reached.max() - reached.min() + 1).item()
    assert span <= math.ceil(extent / layer.time_stride) + 1
    if isinstance(layer, (wn.nn.LiftingConv1d, wn.nn.GroupConv1d)) and layer.stride == 1:
        assert span >= extent - 2  # tight: only the kernel's zero end taps may not reach


# --------------------------------------------------------------------------- equivariance
@pytest.mark.parametrize("case", CASES)
def test_translation_equivariance_is_exact(case):
    spec = LAYERS[case]
    layer = _eval(spec.build(dtype=torch.float64))
    x = _input(spec)
    for steps in (1, 3):
        shift = steps * layer.time_stride
        stride = layer.time_stride
        assert translation_error(layer, x, shift, stride=stride) < 1e-12
        assert translation_error(layer, x, -shift, stride=stride) < 1e-12


@pytest.mark.parametrize("case", [c for c in CASES if LAYERS[c].dilation is not None])
def test_dilation_equivariance_per_scale(case):
    spec = LAYERS[case]
    layer = _eval(spec.build(dtype=torch.float64))
    x = bandlimited_noise((2, 1, 2048), cutoff=0.25, generator=torch.Generator().manual_seed(3))
    model = layer if len(spec.shape) == 3 else nn.Sequential(_lift(dtype=torch.float64), layer)
    errors = dilation_error(model.eval(), x, factor=2, per_scale=True)
    assert len(errors) >= 2
    assert max(errors) < spec.dilation, errors


def test_dilation_check_catches_a_layer_that_treats_scales_alike():
    """A group layer whose kernel is not dilated with the scale fails the check above."""

    class Undilated(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(3, 3, 5, padding=2)

        def forward(self, x):
            b, c, s, t = x.shape
            return self.conv(x.transpose(1, 2).reshape(b * s, c, t)).reshape(b, s, c, t).transpose(1, 2)

    x = bandlimited_noise((2, 1, 2048), cutoff=0.25, generator=torch.Generator().manual_seed(3))
    model = nn.Sequential(_lift(dtype=torch.float64), Undilated().double())
    assert max(dilation_error(model.eval(), x, factor=2, per_scale=True)) > 2e-2


# --------------------------------------------------------------------------- autograd, compile
@pytest.mark.parametrize("case", CASES)
def test_gradcheck(case):
    spec = LAYERS[case]
    layer = spec.build(dtype=torch.float64)
    if case == "ChannelDropout":
        layer.eval()  # a random mask per call
    small = (*spec.shape[:-1], 48)
    x = torch.randn(small, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    params = dict(layer.named_parameters())
    names = list(params)

    def of_params(*values):
        return torch.func.functional_call(layer, dict(zip(names, values, strict=True)), (x,))

    if params:  # with an input that needs no gradient (the fused layers' own path)
        assert torch.autograd.gradcheck(of_params, tuple(p.detach().requires_grad_() for p in params.values()),
                                        fast_mode=True)  # fmt: skip
    assert torch.autograd.gradcheck(layer, (x.requires_grad_(),), fast_mode=True)


def _compiled_equals_eager(layer: nn.Module, x: torch.Tensor, fullgraph: bool) -> None:
    try:
        compiled = torch.compile(layer, backend="aot_eager", fullgraph=fullgraph)
        got = compiled(x)
    except Exception as exc:
        if "fullgraph" in str(exc) or fullgraph:
            raise
        pytest.skip(f"torch.compile unavailable here: {type(exc).__name__}: {exc}")
    torch.testing.assert_close(got, layer(x))


@pytest.mark.parametrize("case", CASES)
def test_torch_compile(case):
    spec = LAYERS[case]
    layer = _eval(spec.build())
    _compiled_equals_eager(layer, _input(spec, torch.float32), fullgraph=False)


@pytest.mark.parametrize("case", CASES)
def test_torch_compile_fullgraph_on_the_reference_path(case):
    torch._dynamo.reset()
    spec = LAYERS[case]
    layer = _eval(spec.build())
    with wn.reference_mode():
        _compiled_equals_eager(layer, _input(spec, torch.float32), fullgraph=True)


# --------------------------------------------------------------------------- state and construction
@pytest.mark.parametrize("case", CASES)
def test_state_dict_round_trip(case):
    spec = LAYERS[case]
    a = _eval(spec.build())
    torch.manual_seed(99)
    b = spec.make()
    b.load_state_dict(a.state_dict())
    b.eval()
    for (k, va), (k2, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(va, vb)
    x = _input(spec, torch.float32)
    torch.testing.assert_close(b(x), a(x), rtol=0, atol=0)


@pytest.mark.parametrize("case", CASES)
def test_reset_parameters(case):
    layer = LAYERS[case].build()
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    with torch.no_grad():
        for p in layer.parameters():
            p.fill_(7.0)
    layer.reset_parameters()
    for name, p in layer.named_parameters():
        assert p.shape == before[name].shape
        assert not torch.all(p == 7.0), f"{name} was not reset"


@pytest.mark.parametrize("case", CASES)
def test_constructor_conventions(case):
    spec = LAYERS[case]
    layer = spec.build()
    init = inspect.signature(type(layer).__init__).parameters
    ours = not type(layer).__init__.__module__.startswith("torch.")  # else torch's signature
    for name in ("device", "dtype", "method"):
        if name in init and ours:
            assert init[name].kind is inspect.Parameter.KEYWORD_ONLY, name
    if any(True for _ in layer.parameters()):
        assert "device" in init and "dtype" in init
        made = spec.build(device="meta", dtype=torch.float64)
        assert all(p.device.type == "meta" and p.dtype == torch.float64 for p in made.parameters())
    if isinstance(layer, nn.Sequential) or isinstance(layer, nn.modules.batchnorm._BatchNorm):
        return  # torch's own repr: the children, the batch norm's arguments
    text = repr(layer)
    for name, p in init.items():
        if name in ("self", "device", "dtype") or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if name in ("in_channels", "out_channels", "activation"):
            continue  # shown positionally, as torch does
        if isinstance(layer, wn.nn.LiftingConvMaxPool1d):
            continue  # its children show them
        assert f"{name}=" in text, f"{type(layer).__name__} repr lacks {name}: {text}"


# --------------------------------------------------------------------------- models
def test_length_steps_refuse_a_layer_of_unknown_arithmetic():
    from wavelet_networks.nn.module import length_steps

    class Mystery(nn.Module):
        def forward(self, x):
            return x[..., ::2]

    model = nn.Sequential(wn.nn.LiftingConv1d(1, 2, 3, 3), nn.Sequential(Mystery()))
    with pytest.raises(TypeError, match=r"layer '1.0' \(Mystery\).*EquivariantModule"):
        length_steps(model)


def test_length_steps_follow_scales_and_valid_padding_through_a_model():
    from wavelet_networks.nn.module import length_steps, output_length, receptive_field

    model = nn.Sequential(
        wn.nn.LiftingStem(1, 2, 5, 4, (2, 2)),
        wn.nn.GroupConv1d(2, 2, 3, 2, padding="valid"),
        nn.ReLU(),
        wn.nn.GroupConv1d(2, 2, 3, 2, stride=2),
        wn.nn.ScaleMaxPool(),
    ).eval()
    steps = length_steps(model)
    assert [s.name for s in steps] == ["0", "1", "3", "4"]
    for n in (200, 201, 333):
        assert model(torch.zeros(1, 1, n)).shape[-1] == output_length(steps, n)
    with pytest.raises(ValueError, match="needs at least 3 scales, got 2"):
        length_steps(nn.Sequential(*model[:4], wn.nn.GroupConv1d(2, 2, 3, 3)))
    assert receptive_field(steps) == (
        model[0].receptive_extent()
        + (model[1].receptive_extent(4) - 1) * 4
        + (model[3].receptive_extent(3) - 1) * 4
    )

"""Scale-robust wavelet networks: dilation equivariance kept from the input to the logits.

The zoo's wavelet networks are equivariant layer by layer, yet their logits
change under a dilation of the input: fixed time pools cover half as much of
the signal's own time at the dilated input's matching scale, and the heads
pool over the one or two scales left after the crops, which a dilation pushes
off the grid (docs/scale_study.md measures both). The variants here change
three things and keep the rest of each architecture:

- every time pool is a :class:`~wavelet_networks.nn.ScaleProportionalMaxPool` (window
  proportional to the scale, the same stride at every scale);
- the crops leave at least five scales for the head: more lifting scales or
  group convolutions spanning fewer scales (``M = 2`` in the W-M-nets);
- the head reads out with :class:`~wavelet_networks.nn.ScaleReadout` (mean
  over time, then a tapered mean over scales) followed by a linear map,
  instead of the max over scales;
- half octaves (``cosets=2``, the default): the features also run on the
  input compressed by ``sqrt(2)``, and the two scale axes are interleaved
  before the readout into one base-``sqrt(2)`` axis, which a dilation by
  ``sqrt(2)`` shifts by one step (``cosets=1``: the dyadic grid alone, about
  0.6 times the cost).

``readout="scales"`` keeps the scale axis instead: the linear head reads the
whole scale profile (channels times scales), which a dilation shifts rather
than leaves alone, so the model stays equivariant up to the head but is not
invariant: for data whose classes differ in absolute time scale (ACSF1).

Optional: ``oversample=2`` resamples the input to twice its rate first, so
that content near the Nyquist frequency, which a compression pushes below the
finest scale, stays on the grid (twice the cost).

``skip_finest``: the readout leaves out that many head scales at the fine
end. Every pool coarsens the time step shared by all scales four-fold, and
the group convolution at scale ``j`` is dilated by ``2**j`` samples of that
step, so the finest scales work at the resolution of the step itself: a
dilation maps scale ``j`` onto scale ``j + 1``, which sees twice as many
samples of the same content, and the two alias differently. The error grows
with every pool and layer and reaches coarser scales as the network gets
deeper (random weights, 9 lifting scales, every head scale read out: the
finest two matching scales of ``w-m11-robust`` and three of ``w-m18-robust``
and ``w-m34-res-robust`` exceed 0.1 at the readout,
``benchmarks/scale_robust_antialias.py``). ``w-m11-robust`` and ``w-m18-robust`` therefore lift onto 3 more
scales at the coarse end and skip the 3 finest, so that five scales are still
read out; ``w-m34-res-robust`` drops the crops instead (group convolutions
spanning one scale, 9 scales at the head) and skips the 4 finest, which
leaves five.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from wavelet_networks import nn as wnn
from wavelet_networks._validation import check_choice
from wavelet_networks.functional import READOUT_SCALE_MODES, scale_readout_weights
from wavelet_networks.models._base import ZooModel, init_he_uniform
from wavelet_networks.models.mnets import EPS, INPUT_LENGTH, PLANS, RES_BLOCKS, SAMPLE_RATE
from wavelet_networks.models.registry import ModelCard, register
from wavelet_networks.models.small import _check_input
from wavelet_networks.nn import ScaleProportionalMaxPool
from wavelet_networks.nn.module import _walk

__all__ = ["ScaleRobustMixin", "WMNetRobust", "WResMNetRobust", "WSmallCNNRobust"]


READOUTS = (*READOUT_SCALE_MODES, "scales")
"""Readouts of the robust models: the weights over scales of :func:`scale_readout`, or
"scales" (no pool over scales: the head reads every scale)."""


def _check_options(cosets: int, oversample: int, readout: str, skip_finest: int) -> None:
    if isinstance(skip_finest, bool) or not isinstance(skip_finest, int) or skip_finest < 0:
        raise ValueError(f"skip_finest must be an integer >= 0, got {skip_finest!r}")
    if cosets not in (1, 2):
        raise ValueError(f"cosets must be 1 (dyadic grid) or 2 (half octaves), got {cosets!r}")
    if isinstance(oversample, bool) or oversample not in (1, 2):
        raise ValueError(f"oversample must be 1 or 2, got {oversample!r}")
    check_choice(readout, "readout", READOUTS)


def _head_features(features: nn.Module, channels: int, readout: str, cosets: int,
                   skip_finest: int) -> int:
    """Inputs of the linear head: ``channels``, or channels times profile scales ("scales");
    raises unless the readout keeps at least one scale."""
    head_scales = _walk(features.named_children(), None)[1]
    if skip_finest >= head_scales:
        raise ValueError(f"skip_finest ({skip_finest}) must be smaller than the {head_scales} "
                         "scales that reach the head")
    if readout != "scales":
        return channels
    return channels * (head_scales - skip_finest) * cosets


class ScaleRobustMixin:
    """The input handling and readout shared by the scale-robust models.

    Subclasses define ``features`` (``(B, C_in, T) -> (B, C, S, T')``),
    ``head`` (``(B, C) -> (B, num_classes)``) and set ``cosets``,
    ``oversample``, ``readout``, ``subtract_empty`` and ``skip_finest``.
    """

    features: nn.Module
    head: nn.Module
    cosets: int
    oversample: int
    readout: str
    subtract_empty: bool
    skip_finest: int

    def _set_readout_options(self, readout: str, cosets: int, oversample: int,
                             subtract_empty: bool, skip_finest: int = 0) -> None:
        _check_options(cosets, oversample, readout, skip_finest)
        self.cosets, self.oversample, self.readout = cosets, oversample, readout
        self.subtract_empty = bool(subtract_empty)
        self.skip_finest = skip_finest

    def readout_features(self, x: Tensor) -> Tensor:
        r"""``(B, C_in, T) -> (B, C)``: features averaged over time, then over scales
        (``(B, C * S * cosets)``, every scale, with ``readout="scales"``).

        The weighted mean (``readout``) over scales of :meth:`scale_profile`
        minus the profile of an empty input of the same length
        (``subtract_empty``)::

            r(x) = sum_j w_j (p_j(x) - p_j(0))

        At scales the signal does not reach (coarser than its length, or, after
        a compression, finer than its samples' spacing allows) the features
        hold only what batch norm's shift and the zero padding past the ends
        make of nothing, a constant that grows as the input gets shorter; a
        dilation brings such a scale into the readout at one end. Subtracting
        the empty input's profile (computed with the batch norms' running
        statistics, like the coset pass) leaves about zero there. The
        subtraction is equivariant: the empty input of length ``2 T`` is the
        dilated empty input of length ``T``.
        """
        h = self.scale_profile(x)
        if self.subtract_empty:
            with _running_statistics(self.features):
                h = h - self.scale_profile(x.new_zeros(1, *x.shape[1:]))
        if self.readout == "scales":
            return h.flatten(1)
        if self.readout == "max":
            return h.amax(dim=-1)
        return h @ scale_readout_weights(h.shape[-1], self.readout, h.dtype, h.device)

    def scale_profile(self, x: Tensor) -> Tensor:
        r"""``(B, C_in, T) -> (B, C, S * cosets)``: the features averaged over time, per scale.

        ``S`` counts the scales that reach the head less the ``skip_finest``
        finest ones. A dilation of ``x`` by 2 shifts the last axis by ``cosets`` steps.
        With ``cosets = 2`` the features of ``x`` and of ``x`` compressed by
        ``sqrt(2)`` (scale ``s_j`` of the latter sees what scale
        ``sqrt(2) s_j`` of ``x`` sees) are interleaved into one axis of
        ``2 S`` scales ``1, sqrt(2), 2, 2 sqrt(2), ...`` before the weights
        over scales are applied. The compressed pass normalises with the batch
        norms' running statistics, in training as in evaluation: with batch
        statistics of its own in training, it would be normalised differently
        at test time (where both passes share the running statistics); on
        FordA the validation loss then jumps between epochs.
        """
        from wavelet_networks.testing import resample

        if self.oversample > 1:
            x = resample(x, self.oversample)
        skip = self.skip_finest
        maps = [self.features(x)[:, :, skip:].mean(dim=-1)]
        if self.cosets == 2:
            with _running_statistics(self.features):
                maps.append(self.features(resample(x, 2**-0.5))[:, :, skip:].mean(dim=-1))
        return torch.stack(maps, dim=-1).flatten(2)  # (B, C, S * cosets), scales in order


@contextmanager
def _running_statistics(module: nn.Module) -> Iterator[None]:
    """Batch norms of ``module`` normalise with their running statistics (and leave them)."""
    norms = [m for m in module.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    for m in norms:
        m.training = False
    try:
        yield
    finally:
        for m in norms:
            m.training = True


# --------------------------------------------------------------------------- small model
class WSmallCNNRobust(ScaleRobustMixin, nn.Module):
    """Scale-robust twin of ``small-cnn``: ``w-small-cnn`` with equivariant pools and readout.

    Layers (``c1, c2, c3`` = ``channels``, ``SP(4)`` = :class:`ScaleProportionalMaxPool`)::

        L(7 scales, 15 taps, c1) BN ReLU SP(4)
        G(3 scales, 7 taps, c2) BN ReLU SP(4)     (crop: 7 -> 5 scales)
        G(1, 3 taps, c3) BN ReLU
        mean over time, tapered mean over the 5 scales (10 with the half-octave coset),
        dropout, linear

    Seven scales (1 to 64): at scale 64 the 15 taps already span 1,150
    samples, more than FordA's 500 or ACSF1's 1,460; coarser scales would add
    cost and features made of the zero padding past the signal's ends.

    Shapes: ``(batch, in_channels, time) -> (batch, num_classes)`` for any
    ``time >= 1``.

    Args:
        num_classes: logits.
        in_channels: channels of the input series.
        channels: output channels of the lifting and the two group layers.
        kernel_sizes: time taps of the three layers.
        num_scales: lifting scales (``num_scales - scale_kernel_size + 1`` reach the head).
        scale_kernel_size: scales spanned by the first group conv.
        pool: window at scale 0 and stride of the two scale-proportional pools.
        dropout: dropout before the linear head.
        readout: weights over scales, "taper", "mean" or "max"; "scales": no pool over
            scales, the head reads every scale (equivariant, not invariant).
        cosets: 2 (default) adds the half-octave coset (input compressed by
            ``sqrt(2)``); 1: the dyadic grid only.
        oversample: resample the input to this many times its rate first (1 or 2).
        subtract_empty: read out the features minus those of an empty input of
            the same length (see :meth:`ScaleRobustMixin.readout_features`).
        skip_finest: head scales at the fine end that the readout leaves out
            (see the module docstring).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        channels: tuple[int, int, int] = (22, 44, 48),
        kernel_sizes: tuple[int, int, int] = (15, 7, 3),
        num_scales: int = 7,
        scale_kernel_size: int = 3,
        pool: int = 4,
        dropout: float = 0.2,
        readout: str = "taper",
        cosets: int = 2,
        oversample: int = 1,
        subtract_empty: bool = True,
        skip_finest: int = 0,
    ) -> None:
        super().__init__()
        self._set_readout_options(readout, cosets, oversample, subtract_empty, skip_finest)
        if num_scales - scale_kernel_size + 1 < 1:
            raise ValueError(
                f"num_scales ({num_scales}) must be >= scale_kernel_size ({scale_kernel_size})"
            )
        self.in_channels = in_channels
        c1, c2, c3 = channels
        k1, k2, k3 = kernel_sizes
        self.features = nn.Sequential(
            wnn.LiftingConv1d(in_channels, c1, k1, num_scales=num_scales),
            wnn.GroupBatchNorm(c1),
            nn.ReLU(inplace=True),
            ScaleProportionalMaxPool(pool),
            wnn.GroupConv1d(c1, c2, k2, scale_kernel_size=scale_kernel_size),
            wnn.GroupBatchNorm(c2),
            nn.ReLU(inplace=True),
            ScaleProportionalMaxPool(pool),
            wnn.GroupConv1d(c2, c3, k3, scale_kernel_size=1),
            wnn.GroupBatchNorm(c3),
            nn.ReLU(inplace=True),
        )
        width = _head_features(self.features, c3, readout, cosets, skip_finest)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, self.in_channels, min_length=1)
        return self.head(self.readout_features(x))


# --------------------------------------------------------------------------- W-M-nets
def _drop(p: float) -> list[nn.Module]:
    if not 0 <= p < 1:
        raise ValueError(f"dropout must be in [0, 1), got {p}")
    return [nn.Dropout(p)] if p > 0 else []


def _robust_stem(in_channels: int, c: int, num_scales: int, kernel_size: int,
                 dropout: float) -> list[nn.Module]:
    """L(S, K, C) at stride 1, SP(4), BN, ReLU, SP(4): the W-M-nets' stem, proportional pools."""
    return [
        wnn.LiftingConv1d(in_channels, c, kernel_size, num_scales=num_scales),
        ScaleProportionalMaxPool(4),
        wnn.GroupBatchNorm(c, eps=EPS),
        nn.ReLU(inplace=True),
        *_drop(dropout),
        ScaleProportionalMaxPool(4),
    ]


class _RobustZooModel(ScaleRobustMixin, ZooModel):
    """A scale-robust model of the zoo: ``features``, readout, linear head without bias."""

    def _build(self, layers: list[nn.Module], channels: int) -> None:
        """Set ``features`` and the head on ``channels`` output channels, initialise, derive
        the accepted lengths (call at the end of ``__init__``)."""
        self.features = nn.Sequential(*layers)
        width = _head_features(self.features, channels, self.readout, self.cosets,
                               self.skip_finest)
        self.head = nn.Linear(width, self.num_classes, bias=False)
        init_he_uniform(self)
        self._finish()

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return self.head(self.readout_features(x))


class WMNetRobust(_RobustZooModel):
    """Scale-robust W-M-net (W-M3, W-M5, W-M11, W-M18).

    As :class:`~wavelet_networks.models.mnets.WMNet`, with every ``P(4)`` a
    ``SP(4)`` (:class:`ScaleProportionalMaxPool`), crop layers spanning
    ``scale_kernel_size = 2`` scales and the head ``ScaleReadout`` then a
    linear map (no bias), instead of a group conv and the max over scales::

        L(S, 79, C), SP(4), BN, ReLU, SP(4)
        stage i: G(M, 3, w) BN ReLU, [G(1, 3, w) BN ReLU] x (len(stage) - 1), SP(4)
        mean over time, tapered mean over the scales from skip_finest on, linear

    The zoo's builds: ``S = 9`` lifting scales reach the head as 8 and 6 in
    W-M3 and W-M5 (all read out); ``S = 12`` reach it as 8 in W-M11 and W-M18,
    of which the readout skips the 3 finest.

    Args: as :class:`~wavelet_networks.models.mnets.WMNet` (``head_scales``
    dropped), plus ``readout``, ``cosets``, ``oversample``, ``subtract_empty``
    and ``skip_finest`` (see :class:`WSmallCNNRobust`).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        plan: tuple[tuple[int, ...], ...],
        pool_last: bool,
        channels: int,
        dropout: float = 0.0,
        num_scales: int = 9,
        scale_kernel_size: int = 2,
        kernel_size: int = 79,
        readout: str = "taper",
        cosets: int = 2,
        oversample: int = 1,
        subtract_empty: bool = True,
        skip_finest: int = 0,
        name: str = "w-m-net-robust",
    ) -> None:
        super().__init__(num_classes, in_channels, INPUT_LENGTH)
        self._set_readout_options(readout, cosets, oversample, subtract_empty, skip_finest)
        self.zoo_name = name
        layers = _robust_stem(in_channels, channels, num_scales, kernel_size, dropout)
        c_in = channels
        for i, stage in enumerate(plan):
            for j, mult in enumerate(stage):
                c = channels * mult
                m = scale_kernel_size if j == 0 else 1
                layers += [wnn.GroupConv1d(c_in, c, 3, scale_kernel_size=m)]
                layers += [wnn.GroupBatchNorm(c, eps=EPS), nn.ReLU(inplace=True), *_drop(dropout)]
                c_in = c
            if pool_last or i < len(plan) - 1:
                layers.append(ScaleProportionalMaxPool(4))
        self._build(layers, c_in)


class WResMNetRobust(_RobustZooModel):
    """Scale-robust W-M34-res: residual blocks of W-M34-res, SP(4) pools, tapered readout.

    By default every group convolution spans one scale (``scale_kernel_size=1``:
    no crops, the 9 lifting scales all reach the head) and the readout skips
    the 4 finest, which leaves five. Keeping five read-out scales with crops
    (``scale_kernel_size=2``) would take 13 lifting scales, whose coarsest
    kernels reach far past the time axis after the pools: a training step on
    8 clips of 4,000 samples then needs more than 24 GiB.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        channels: int = 48,
        dropout: float = 0.0,
        num_scales: int = 9,
        scale_kernel_size: int = 1,
        kernel_size: int = 79,
        blocks: tuple[int, ...] = RES_BLOCKS,
        readout: str = "taper",
        cosets: int = 2,
        oversample: int = 1,
        subtract_empty: bool = True,
        skip_finest: int = 4,
    ) -> None:
        from wavelet_networks.models.mnets import WResBlock

        super().__init__(num_classes, in_channels, INPUT_LENGTH)
        self._set_readout_options(readout, cosets, oversample, subtract_empty, skip_finest)
        self.zoo_name = "w-m34-res-robust"
        layers = _robust_stem(in_channels, channels, num_scales, kernel_size, dropout)
        c_in = channels
        for i, n in enumerate(blocks):
            c = channels * 2**i
            for j in range(n):
                layers += [WResBlock(c_in, c, scale_kernel_size if j == 0 else 1),
                           *_drop(dropout)]
                c_in = c
            if i < len(blocks) - 1:
                layers.append(ScaleProportionalMaxPool(4))
        self._build(layers, c_in)


# --------------------------------------------------------------------------- registry
_NOTES = (
    "Scale-robust variant (models/robust.py): scale-proportional max pools SP(4) "
    "(window 4 * 2**j at scale j, same stride), at least 5 scales at the head, readout = "
    "mean over time then a tapered (Hann) mean over scales of the features minus those of an "
    "empty input, then linear. Overrides also: readout ('taper', 'mean', 'max'; 'scales': no "
    "pool over scales, not invariant), cosets (2: half-octave coset, 1: none), oversample (2: "
    "input at twice its rate), subtract_empty, skip_finest (finest head scales left out of "
    "the readout)."
)
_ROBUST_WIDTH = {"m3": 184, "m5": 91, "m11": 56, "m18": 60}
# Finest head scales the readout leaves out (and lifting scales added at the coarse end so
# that five or more are read out): where the random-weight dilation error at the readout
# exceeds 0.1 (docs/scale_study.md, benchmarks/scale_robust_equivariance.py).
_ROBUST_SKIP = {"m3": 0, "m5": 0, "m11": 3, "m18": 3}


def _register_mnet(key: str) -> None:
    plan, pool_last = PLANS[key]
    name = f"w-{key}-robust"

    def build(
        num_classes: int,
        in_channels: int = 1,
        channels: int = _ROBUST_WIDTH[key],
        dropout: float = 0.0,
        num_scales: int = 9 + _ROBUST_SKIP[key],
        scale_kernel_size: int = 2,
        kernel_size: int = 79,
        readout: str = "taper",
        cosets: int = 2,
        oversample: int = 1,
        subtract_empty: bool = True,
        skip_finest: int = _ROBUST_SKIP[key],
    ) -> WMNetRobust:
        return WMNetRobust(num_classes, in_channels, plan, pool_last, channels, dropout,
                           num_scales, scale_kernel_size, kernel_size, readout, cosets,
                           oversample, subtract_empty, skip_finest, name=name)

    build.__name__ = name.replace("-", "_")
    build.__doc__ = f"Build {name.upper()} (see :class:`WMNetRobust`)."
    register(ModelCard(
        name=name, family="wavelet", paper="this project (scale-robust variant of W-"
        f"{key.upper()}, Romero et al. 2024)", twin=key, sample_rate=SAMPLE_RATE,
        input_length=INPUT_LENGTH, notes=f"C = {_ROBUST_WIDTH[key]}, "
        f"{9 + _ROBUST_SKIP[key]} lifting scales, skip_finest = {_ROBUST_SKIP[key]}. " + _NOTES,
        extra={"num_classes": 10, "dataset": "UrbanSound8K"},
    ))(build)


for _key in PLANS:
    _register_mnet(_key)


@register(ModelCard(
    name="w-m34-res-robust", family="wavelet",
    paper="this project (scale-robust variant of W-M34-res, Romero et al. 2024)",
    twin="m34-res", sample_rate=SAMPLE_RATE, input_length=INPUT_LENGTH,
    notes="C = 48, 9 lifting scales, scale_kernel_size = 1 (no crops), skip_finest = 4. "
    + _NOTES, extra={"num_classes": 10, "dataset": "UrbanSound8K"},
))
def w_m34_res_robust(num_classes: int, in_channels: int = 1, **overrides) -> WResMNetRobust:
    """Build W-M34-res-robust (see :class:`WResMNetRobust`)."""
    return WResMNetRobust(num_classes, in_channels, **overrides)


@register(ModelCard(
    name="w-small-cnn-robust", family="wavelet",
    paper="this project: scale-robust default model (not from the paper)",
    twin="small-cnn", input_length=1460,
    notes="w-small-cnn with 7 lifting scales, scale-proportional pools and a tapered "
    "readout over 5 scales (10 with the half-octave coset); parameter-matched to small-cnn. "
    + _NOTES,
))
def w_small_cnn_robust(num_classes: int, in_channels: int = 1, **overrides) -> WSmallCNNRobust:
    """Build :class:`WSmallCNNRobust`."""
    return WSmallCNNRobust(num_classes, in_channels, **overrides)

"""The M-nets of Dai et al. 2016 and their wavelet-network twins (UrbanSound8K).

Baselines (Dai, Dai, Qu, Li & Das, "Very deep convolutional neural networks
for raw waveforms", ICASSP 2017, arXiv 1610.00087): a first convolution of 80
taps at stride 4, then 3-tap convolutions; max pooling by 4 between stages;
batch norm and ReLU after every convolution; global mean over time; a 1x1
convolution to the classes. No biases.

Twins (Romero et al., "Wavelet Networks", TMLR 2024): the strided first layer
becomes a lifting layer L(9, 79, C) at stride 1 followed by P(4), BN, ReLU,
P(4) (the same 16x reduction); every stage starts with a group convolution
G(3, 3, .) that spans 3 scales and crops the scale axis, its other layers are
G(1, 3, .) (one scale at a time). The head is a group convolution with one
time tap after the mean over time, then the max over the remaining scales; as
in the paper's code its one-tap kernel is a sampled spline, which weights
output scale ``2**j`` by ``0.75 / 2**j`` (see :mod:`wavelet_networks.models.heads`).
Channel counts are reduced so the parameter counts match the baselines.

Shapes: input ``(batch, in_channels, 88200)`` (4 s at 22.05 kHz; any length
from ``model.min_length`` on), output ``(batch, num_classes)``.
"""

from __future__ import annotations

from torch import Tensor, nn

from wavelet_networks import nn as wnn
from wavelet_networks.models._base import ZooModel, init_he_uniform, init_normal_fan_in
from wavelet_networks.models.heads import SplineOneTapGroupConv1d
from wavelet_networks.models.registry import ModelCard, register
from wavelet_networks.nn.norm import run_fused

__all__ = ["MNet", "ResMNet", "WMNet", "WResMNet"]

SAMPLE_RATE = 22050
INPUT_LENGTH = 88200
EPS = 2e-5  # batch-norm epsilon of the reference code

# Stage plans as multiples of the base width C; pool_last: max pool after the last stage.
PLANS: dict[str, tuple[tuple[tuple[int, ...], ...], bool]] = {
    "m3": (((1,),), True),
    "m5": (((1,), (2,), (4,)), True),
    "m11": (((1, 1), (2, 2), (4, 4, 4), (8, 8)), False),
    "m18": (((1,) * 4, (2,) * 4, (4,) * 4, (8,) * 4), False),
}
RES_BLOCKS = (3, 4, 6, 3)  # M34-res: residual blocks per stage, widths C, 2C, 4C, 8C


def _drop(p: float) -> list[nn.Module]:
    if not 0 <= p < 1:
        raise ValueError(f"dropout must be in [0, 1), got {p}")
    return [nn.Dropout(p)] if p > 0 else []


# --------------------------------------------------------------------------- baselines
class MNet(ZooModel):
    """Plain M-net (M3, M5, M11, M18) of Dai et al. 2016.

    Stage plan (``C`` = ``channels``; ``conv(k/s, c)``: k taps, stride s)::

        conv(80/4, C) BN ReLU, P(4)
        stage i: [conv(3, w) BN ReLU] x len(stage)  (w = C * multiple), then P(4)
                 (no pool after the last stage of M11/M18)
        mean over time, conv(1, num_classes)

    For M5 on 88,200 samples: (B,1,88200) -> (B,128,22051) -> P 5512 ->
    (B,128,5512) -> P 1378 -> (B,256,1378) -> P 344 -> (B,512,344) -> P 86 ->
    mean -> (B,512,1) -> (B,num_classes).

    Args:
        num_classes: logits.
        in_channels: channels of the input series.
        plan: stage widths as multiples of ``channels`` (see ``PLANS``).
        pool_last: max pool after the last stage.
        channels: base width ``C``.
        dropout: dropout after every conv block (0: none, as the paper).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        plan: tuple[tuple[int, ...], ...],
        pool_last: bool,
        channels: int,
        dropout: float = 0.0,
        name: str = "m-net",
    ) -> None:
        super().__init__(num_classes, in_channels, INPUT_LENGTH)
        self.zoo_name = name
        layers: list[nn.Module] = [
            nn.Conv1d(in_channels, channels, 80, stride=4, padding=40, bias=False),
            nn.BatchNorm1d(channels, eps=EPS),
            nn.ReLU(inplace=True),
            *_drop(dropout),
            nn.MaxPool1d(4),
        ]
        c_in = channels
        for i, stage in enumerate(plan):
            for mult in stage:
                c = channels * mult
                layers += [nn.Conv1d(c_in, c, 3, padding=1, bias=False)]
                layers += [nn.BatchNorm1d(c, eps=EPS), nn.ReLU(inplace=True), *_drop(dropout)]
                c_in = c
            if pool_last or i < len(plan) - 1:
                layers.append(nn.MaxPool1d(4))
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv1d(c_in, num_classes, 1, bias=False)
        init_normal_fan_in(self)
        self._finish()

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        h = self.features(x).mean(dim=-1, keepdim=True)  # (B, C, 1)
        return self.head(h).flatten(1)


class ResBlock(nn.Module):
    """Residual block of M34-res: conv BN ReLU conv BN, + shortcut, BN ReLU.

    The shortcut repeats the input channels when the width grows (``out = k * in``).
    The batch norm after the sum follows the reference code.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        if c_out % c_in:
            raise ValueError(f"residual block: out channels {c_out} not a multiple of {c_in}")
        self.conv1 = nn.Conv1d(c_in, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm1d(c_out, eps=EPS)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm1d(c_out, eps=EPS)
        self.bn_out = nn.BatchNorm1d(c_out, eps=EPS)
        self.repeat = c_out // c_in

    def forward(self, x: Tensor) -> Tensor:
        h = self.bn2(self.conv2(self.bn1(self.conv1(x)).relu()))
        shortcut = x.repeat(1, self.repeat, 1) if self.repeat > 1 else x
        return self.bn_out(h + shortcut).relu()


class ResMNet(ZooModel):
    """M34-res of Dai et al. 2016.

    Stage plan (``C`` = ``channels`` = 48)::

        conv(80/4, C) BN ReLU, P(4)
        3 blocks (C), P(4), 4 blocks (2C), P(4), 6 blocks (4C), P(4), 3 blocks (8C)
        mean over time, conv(1, num_classes)

    Shapes on 88,200 samples: 22051 -> P 5512 -> 1378 -> 344 -> 86 time steps,
    then ``(B, 8C, 1) -> (B, num_classes)``.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        channels: int = 48,
        dropout: float = 0.0,
        blocks: tuple[int, ...] = RES_BLOCKS,
    ) -> None:
        super().__init__(num_classes, in_channels, INPUT_LENGTH)
        self.zoo_name = "m34-res"
        self.blocks = tuple(blocks)
        layers: list[nn.Module] = [
            nn.Conv1d(in_channels, channels, 80, stride=4, padding=40, bias=False),
            nn.BatchNorm1d(channels, eps=EPS),
            nn.ReLU(inplace=True),
            *_drop(dropout),
            nn.MaxPool1d(4),
        ]
        c_in = channels
        for i, n in enumerate(blocks):
            c = channels * 2**i
            for _ in range(n):
                layers += [ResBlock(c_in, c), *_drop(dropout)]
                c_in = c
            if i < len(blocks) - 1:
                layers.append(nn.MaxPool1d(4))
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv1d(c_in, num_classes, 1, bias=False)
        init_normal_fan_in(self)
        self._finish()

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return self.head(self.features(x).mean(dim=-1, keepdim=True)).flatten(1)


# --------------------------------------------------------------------------- wavelet twins
def _one_tap_head(c_in: int, num_classes: int, scales: int, spline_head: bool) -> wnn.GroupConv1d:
    """The last layer G(M, 1): spline-sampled as the paper's code, or pointwise at every scale."""
    if spline_head:
        return SplineOneTapGroupConv1d(c_in, num_classes, scale_kernel_size=scales)
    return wnn.GroupConv1d(c_in, num_classes, 1, scale_kernel_size=scales)


def _lifting_stem(
    in_channels: int, c: int, num_scales: int, kernel_size: int, dropout: float
) -> list[nn.Module]:
    """L(S, K, C) at stride 1, P(4), BN, ReLU, P(4): replaces conv(80/4) BN ReLU P(4)."""
    _drop(dropout)  # checks the range
    stem = wnn.LiftingStem(in_channels, c, kernel_size, num_scales, (4, 4), eps=EPS, dropout=dropout)
    return [stem]


class WMNet(ZooModel):
    """Wavelet-network twin of an M-net (W-M3, W-M5, W-M11, W-M18).

    Stage plan (``C`` = ``channels``; ``G(M, K, c)``: M scales, K time taps)::

        L(S=9, 79, C), P(4), BN, ReLU, P(4)
        stage i: G(3, 3, w) BN ReLU, then [G(1, 3, w) BN ReLU] x (len(stage) - 1), P(4)
                 (no pool after the last stage of W-M11/W-M18)
        mean over time, G(head_scales, 1, num_classes), max over scales

    Scales: 9 after lifting, minus 2 at every stage (crop); W-M3: 9 -> 7, head
    G(3, 1) -> 5, max; W-M5: 9 -> 7 -> 5 -> 3, head -> 1; W-M11/W-M18:
    9 -> 7 -> 5 -> 3 -> 1, head G(1, 1). Time on 88,200 samples (W-M5):
    88200 -> P 22050 -> P 5512 -> 1378 -> 344 -> 86, then mean.

    The head's one-tap kernel is a sampled spline as in the paper's code
    (:class:`~wavelet_networks.models.heads.SplineOneTapGroupConv1d`): on the
    time mean it weights output scale ``2**j`` by ``0.75 / 2**j`` before the
    max over scales; ``spline_head=False`` makes it pointwise (the same weight
    at every scale, so the max over scales is invariant to dilations).

    Args:
        num_classes: logits.
        in_channels: channels of the input series.
        plan: stage widths as multiples of ``channels``.
        pool_last: max pool after the last stage.
        channels: base width ``C``.
        head_scales: scales spanned by the head (3: crop, 1: per scale).
        dropout: elementwise dropout after every BN-ReLU (the reference's
            optional 0.3 for W-M5; 0: none).
        num_scales: scales of the lifting layer (1, 2, ..., 2**(S-1)).
        scale_kernel_size: scales ``M`` spanned by the first conv of a stage.
        kernel_size: time taps of the lifting layer.
        spline_head: the paper's spline-sampled one-tap head (``True``) or a
            pointwise one (``False``).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        plan: tuple[tuple[int, ...], ...],
        pool_last: bool,
        channels: int,
        head_scales: int,
        dropout: float = 0.0,
        num_scales: int = 9,
        scale_kernel_size: int = 3,
        kernel_size: int = 79,
        name: str = "w-m-net",
        spline_head: bool = True,
    ) -> None:
        super().__init__(num_classes, in_channels, INPUT_LENGTH)
        self.zoo_name = name
        layers = _lifting_stem(in_channels, channels, num_scales, kernel_size, dropout)
        c_in = channels
        for i, stage in enumerate(plan):
            for j, mult in enumerate(stage):
                c = channels * mult
                m = scale_kernel_size if j == 0 else 1
                layers += [wnn.GroupConv1d(c_in, c, 3, scale_kernel_size=m)]
                layers += [wnn.GroupBatchNorm(c, eps=EPS), nn.ReLU(inplace=True), *_drop(dropout)]
                c_in = c
            if pool_last or i < len(plan) - 1:
                layers.append(wnn.TimeMaxPool(4))
        self.features = nn.Sequential(*layers)
        self.head = _one_tap_head(c_in, num_classes, head_scales, spline_head)
        self.scale_pool = wnn.ScaleMaxPool()
        init_he_uniform(self)
        self._finish()

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        # each stage's last batch norm, ReLU and max pool as one operation
        h = run_fused(self.features, x).mean(dim=-1, keepdim=True)  # (B, C, S, 1)
        return self.scale_pool(self.head(h)).flatten(1)  # max over scales


class WResBlock(nn.Module):
    """Residual block of W-M34-res: G BN ReLU G(1, 3) BN, + shortcut, BN ReLU.

    With ``scale_kernel_size = M > 1`` the first conv crops the scale axis by
    ``M - 1``; the shortcut then drops the last (coarsest) ``M - 1`` scales. When
    the width grows the shortcut repeats the channels.
    """

    def __init__(self, c_in: int, c_out: int, scale_kernel_size: int) -> None:
        super().__init__()
        if c_out % c_in:
            raise ValueError(f"residual block: out channels {c_out} not a multiple of {c_in}")
        self.conv1 = wnn.GroupConv1d(c_in, c_out, 3, scale_kernel_size=scale_kernel_size)
        self.bn1 = wnn.GroupBatchNorm(c_out, eps=EPS)
        self.conv2 = wnn.GroupConv1d(c_out, c_out, 3, scale_kernel_size=1)
        self.bn2 = wnn.GroupBatchNorm(c_out, eps=EPS)
        self.bn_out = wnn.GroupBatchNorm(c_out, eps=EPS)
        self.crop = scale_kernel_size - 1
        self.repeat = c_out // c_in

    def forward(self, x: Tensor) -> Tensor:
        h = self.bn2(self.conv2(self.bn1(self.conv1(x)).relu()))
        shortcut = x[:, :, : x.shape[2] - self.crop] if self.crop else x
        if self.repeat > 1:
            shortcut = shortcut.repeat(1, self.repeat, 1, 1)
        return self.bn_out(h + shortcut).relu()


class WResMNet(ZooModel):
    """W-M34-res: the wavelet-network twin of M34-res.

    Stage plan (``C`` = ``channels`` = 45)::

        L(9, 79, C), P(4), BN, ReLU, P(4)
        3 blocks (C), P(4), 4 blocks (2C), P(4), 6 blocks (4C), P(4), 3 blocks (8C)
        (the first block of every stage crops the scale axis: 9 -> 7 -> 5 -> 3 -> 1)
        mean over time, G(1, 1, num_classes), max over scales

    Args:
        num_classes: logits.
        in_channels: channels of the input series.
        channels: base width ``C``.
        dropout: elementwise dropout after every block (0: none).
        num_scales: scales of the lifting layer.
        scale_kernel_size: scales spanned by the first conv of a stage.
        kernel_size: time taps of the lifting layer.
        blocks: residual blocks per stage.
        spline_head: the paper's spline-sampled one-tap head (``True``; on the
            single remaining scale a factor 0.75) or a pointwise one (``False``).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        channels: int = 45,
        dropout: float = 0.0,
        num_scales: int = 9,
        scale_kernel_size: int = 3,
        kernel_size: int = 79,
        blocks: tuple[int, ...] = RES_BLOCKS,
        spline_head: bool = True,
    ) -> None:
        super().__init__(num_classes, in_channels, INPUT_LENGTH)
        self.zoo_name = "w-m34-res"
        self.blocks = tuple(blocks)
        layers = _lifting_stem(in_channels, channels, num_scales, kernel_size, dropout)
        c_in = channels
        for i, n in enumerate(blocks):
            c = channels * 2**i
            for j in range(n):
                m = scale_kernel_size if j == 0 else 1
                layers += [WResBlock(c_in, c, m), *_drop(dropout)]
                c_in = c
            if i < len(blocks) - 1:
                layers.append(wnn.TimeMaxPool(4))
        self.features = nn.Sequential(*layers)
        self.head = _one_tap_head(c_in, num_classes, 1, spline_head)
        self.scale_pool = wnn.ScaleMaxPool()
        init_he_uniform(self)
        self._finish()

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        h = self.features(x).mean(dim=-1, keepdim=True)
        return self.scale_pool(self.head(h)).flatten(1)


# --------------------------------------------------------------------------- registry
_DAI = "Dai et al. 2016, Very deep convolutional neural networks for raw waveforms"
_ROMERO = "Romero et al. 2024, Wavelet Networks (TMLR), arXiv 2006.05259"
_NOT_FOUND = "not found (the paper's text was not available to look the number up)"


def _common() -> dict:
    """Card fields shared by this module's models (a fresh ``extra`` dict per card)."""
    return dict(
        sample_rate=SAMPLE_RATE,
        input_length=INPUT_LENGTH,
        paper_result=_NOT_FOUND,
        extra={"num_classes": 10, "dataset": "UrbanSound8K"},
    )


_OVERRIDES = "Overrides: channels (base width C), dropout (after every conv block)."
_W_OVERRIDES = (
    "Overrides: channels (base width C), dropout (elementwise, after every BN-ReLU), "
    "num_scales (lifting scales, default 9), scale_kernel_size (M of the crop layers, "
    "default 3), kernel_size (lifting taps, default 79), spline_head (default True)."
)
_W_NOTES = (
    "Lifting L(9, 79, C) at stride 1 then P(4) BN ReLU P(4) replaces the stride-4 first "
    "conv; BN has one statistic per channel (GroupBatchNorm, eps 2e-5); no conv biases; "
    "head after the time mean, then max over scales. Head as the paper's code: its one-tap "
    "kernel is a sampled spline, so on the time mean output scale 2**j is weighted "
    "B(0)/2**j = 0.75/2**j before the max over scales (golden outputs of the paper's code "
    "reproduced, docs/models.md). spline_head=False makes it pointwise instead: the "
    "paper's weighting shrinks coarse scales before the max, so the max over scales is not "
    "invariant to dilations where the head sees several scales (W-M3: 5), and is a "
    "constant factor 0.75 where it sees one. Init: spline weights U(+-sqrt(2/(C_in K))) "
    "as the reference code. "
)
_REF_PARAMS = {
    "m3": 220_672,
    "m5": 558_080,
    "m11": 1_784_192,
    "m18": 3_679_872,
    "m34-res": 3_978_432,
    "w-m3": 219_450,
    "w-m5": 558_034,
    "w-m11": 1_806_369,
    "w-m18": 3_758_865,
    "w-m34-res": 4_020_525,
}
_BASE_WIDTH = {"m3": 256, "m5": 128, "m11": 64, "m18": 64}
_TWIN_WIDTH = {"m3": 150, "m5": 74, "m11": 51, "m18": 57}  # reference: int(256/1.7), 74, ...
_HEAD_SCALES = {"m3": 3, "m5": 3, "m11": 1, "m18": 1}


def _register_plain(key: str) -> None:
    plan, pool_last = PLANS[key]

    def build(
        num_classes: int,
        in_channels: int = 1,
        channels: int = _BASE_WIDTH[key],
        dropout: float = 0.0,
    ) -> MNet:
        return MNet(num_classes, in_channels, plan, pool_last, channels, dropout, name=key)

    build.__name__ = key.replace("-", "_")
    build.__doc__ = f"Build {key.upper()} (see :class:`MNet`)."
    register(
        ModelCard(
            name=key,
            family="baseline",
            paper=_DAI,
            twin=f"w-{key}",
            reference_params=_REF_PARAMS[key],
            notes="Conv(80 taps, stride 4, padding 40), 3-tap convs (padding 1), BN eps 2e-5, "
            "no biases, init N(0, 1/fan_in) as the reference code. " + _OVERRIDES,
            **_common(),
        )
    )(build)


def _register_wavelet(key: str) -> None:
    plan, pool_last = PLANS[key]
    name = f"w-{key}"
    crop = {"m3": "the single G layer crops 9 -> 7 scales, the head G(3, 1) crops 7 -> 5",
            "m5": "every G layer crops (9 -> 7 -> 5 -> 3), the head G(3, 1) crops 3 -> 1",
            "m11": "the first G layer of each stage crops (9 -> 7 -> 5 -> 3 -> 1), "
                   "others are G(1, 3); head G(1, 1)",
            "m18": "the first G layer of each stage crops (9 -> 7 -> 5 -> 3 -> 1), "
                   "others are G(1, 3); head G(1, 1)"}[key]  # fmt: skip

    def build(
        num_classes: int,
        in_channels: int = 1,
        channels: int = _TWIN_WIDTH[key],
        dropout: float = 0.0,
        num_scales: int = 9,
        scale_kernel_size: int = 3,
        kernel_size: int = 79,
        spline_head: bool = True,
    ) -> WMNet:
        return WMNet(
            num_classes,
            in_channels,
            plan,
            pool_last,
            channels,
            _HEAD_SCALES[key],
            dropout,
            num_scales,
            scale_kernel_size,
            kernel_size,
            name=name,
            spline_head=spline_head,
        )

    build.__name__ = name.replace("-", "_")
    build.__doc__ = f"Build {name.upper()} (see :class:`WMNet`)."
    extra_note = " The reference trains W-M5 with dropout=0.3 optional (off by default)." * (
        key == "m5"
    )
    register(
        ModelCard(
            name=name,
            family="wavelet",
            paper=_ROMERO,
            twin=key,
            reference_params=_REF_PARAMS[name],
            notes=f"C = {_TWIN_WIDTH[key]}; {crop}. " + _W_NOTES + _W_OVERRIDES + extra_note,
            **_common(),
        )
    )(build)


for _key in PLANS:
    _register_plain(_key)
    _register_wavelet(_key)


@register(
    ModelCard(
        name="m34-res",
        family="baseline",
        paper=_DAI,
        twin="w-m34-res",
        reference_params=_REF_PARAMS["m34-res"],
        notes="48 base channels, residual blocks (3, 4, 6, 3); shortcut repeats channels when "
        "the width doubles; a BN after the residual sum as the reference code. " + _OVERRIDES,
        **_common(),
    )
)
def m34_res(
    num_classes: int, in_channels: int = 1, channels: int = 48, dropout: float = 0.0
) -> ResMNet:
    """Build M34-res (see :class:`ResMNet`)."""
    return ResMNet(num_classes, in_channels, channels, dropout)


@register(
    ModelCard(
        name="w-m34-res",
        family="wavelet",
        twin="m34-res",
        paper=_ROMERO,
        reference_params=_REF_PARAMS["w-m34-res"],
        notes="C = 45; the first block of every stage crops the scale axis (9 -> 7 -> 5 -> 3 "
        "-> 1; its shortcut drops the 2 coarsest scales and repeats channels when the width "
        "doubles), other convs are G(1, 3); head G(1, 1). " + _W_NOTES + _W_OVERRIDES,
        **_common(),
    )
)
def w_m34_res(
    num_classes: int,
    in_channels: int = 1,
    channels: int = 45,
    dropout: float = 0.0,
    num_scales: int = 9,
    scale_kernel_size: int = 3,
    kernel_size: int = 79,
    spline_head: bool = True,
) -> WResMNet:
    """Build W-M34-res (see :class:`WResMNet`)."""
    return WResMNet(
        num_classes, in_channels, channels, dropout, num_scales, scale_kernel_size, kernel_size,
        spline_head=spline_head,
    )

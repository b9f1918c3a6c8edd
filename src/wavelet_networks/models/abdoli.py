"""The 1D-CNN of Abdoli et al. 2019 and its wavelet-network twin (UrbanSound8K, 16 kHz).

Baseline (Abdoli, Cardinal & Koerich, "End-to-end environmental sound
classification using a 1D convolutional neural network", Expert Systems with
Applications 2019): five strided convolutions (64/32/16/8/4 taps, stride 2,
16-32-64-128-256 channels, each followed by ReLU and batch norm), max pooling
by 8, 8 and 5, then three dense layers (128, 64, classes) with dropout 0.25.

Twin (Romero et al. 2024): a lifting layer L(9, 63, 12) and group layers
G(3, 31, 24), G(3, 15, 48), G(3, 7, 96), G(3, 3, 192) (each crops the scale
axis: 9 -> 7 -> 5 -> 3 -> 1); every stride 2 becomes a stride-1 conv followed
by P(2). The same dense head reads the flattened ``(192, 1 scale, 6 time)``
features.

Both heads flatten 6 time steps, so the input length is fixed up to the
pooling remainders: ``(batch, in_channels, 64000)`` (4 s at 16 kHz; see
``model.min_length`` / ``model.max_length``). Output ``(batch, num_classes)``.
"""

from __future__ import annotations

from torch import Tensor, nn

from wavelet_networks import nn as wnn
from wavelet_networks.models._base import ZooModel, init_he_uniform, init_normal_fan_in
from wavelet_networks.models.registry import ModelCard, register

__all__ = ["OneDCNN", "WOneDCNN"]

SAMPLE_RATE = 16000
INPUT_LENGTH = 64000
EPS = 2e-5
FINAL_LENGTH = 6  # time steps the dense head flattens (out_space_dim of the reference)
KERNELS = (64, 32, 16, 8, 4)
W_KERNELS = (63, 31, 15, 7, 3)
POOLS = (8, 8, 1, 1, 5)  # max pool after each conv block (1: none)


def _dense_head(features: int, width: int, num_classes: int, dropout: float, relu: bool):
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    # an Identity in place of the ReLU keeps the state-dict keys (head.1, .4, .7) of both heads
    def act() -> nn.Module:
        return nn.ReLU() if relu else nn.Identity()

    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(features, 8 * width),
        act(),
        nn.Dropout(dropout),
        nn.Linear(8 * width, 4 * width),
        act(),
        nn.Dropout(dropout),
        nn.Linear(4 * width, num_classes),
    )


class OneDCNN(ZooModel):
    """1D-CNN of Abdoli et al. 2019 (the 64,000-sample variant).

    Stage plan (``C`` = ``channels`` = 16; ``conv(k/s, c)``)::

        conv(64/2, C) ReLU BN P(8)    (B,1,64000) -> (B,16,32001) -> 4000
        conv(32/2, 2C) ReLU BN P(8)   -> (B,32,2001) -> 250
        conv(16/2, 4C) ReLU BN        -> (B,64,126)
        conv(8/2, 8C) ReLU BN         -> (B,128,64)
        conv(4/2, 16C) ReLU BN P(5)   -> (B,256,33) -> 6
        flatten (16C * 6) -> dense 8C -> dense 4C -> dense num_classes (dropout 0.25,
        no nonlinearity between the dense layers, as the paper's code)

    Args:
        num_classes: logits.
        in_channels: channels of the input series.
        channels: base width ``C``.
        dropout: dropout after the first two dense layers.
        dense_relu: ReLU between the dense layers. ``False`` (default): none,
            as the Wavelet Networks paper's code, whose head is affine (dropout
            only between the dense layers); ``True``: Abdoli et al.'s published head.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        channels: int = 16,
        dropout: float = 0.25,
        dense_relu: bool = False,
    ) -> None:
        super().__init__(num_classes, in_channels, INPUT_LENGTH)
        self.zoo_name = "1d-cnn"
        layers: list[nn.Module] = []
        c_in = in_channels
        for i, (k, pool) in enumerate(zip(KERNELS, POOLS, strict=True)):
            c = channels * 2**i
            layers += [nn.Conv1d(c_in, c, k, stride=2, padding=k // 2, bias=False)]
            layers += [nn.ReLU(), nn.BatchNorm1d(c, eps=EPS)]
            if pool > 1:
                layers.append(nn.MaxPool1d(pool))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = _dense_head(c_in * FINAL_LENGTH, channels, num_classes, dropout, dense_relu)
        init_normal_fan_in(self, linear=True)
        self._finish(FINAL_LENGTH)

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return self.head(self.features(x))


class WOneDCNN(ZooModel):
    """W-1D-CNN: the wavelet-network twin of the 1D-CNN.

    Stage plan (``C`` = ``channels`` = 12)::

        L(9, 63, C) P(2) ReLU BN P(8)      (B,1,64000) -> (B,12,9,64000) -> 32000 -> 4000
        G(3, 31, 2C) P(2) ReLU BN P(8)     -> (B,24,7,4000) -> 2000 -> 250
        G(3, 15, 4C) P(2) ReLU BN          -> (B,48,5,250) -> 125
        G(3, 7, 8C) P(2) ReLU BN           -> (B,96,3,125) -> 62
        G(3, 3, 16C) P(2) ReLU BN P(5)     -> (B,192,1,62) -> 31 -> 6
        max over scales (one left), flatten (16C * 6) -> dense 8C -> 4C -> num_classes
        (an affine head: dropout but no nonlinearity between the dense layers)

    The dense head (as the baseline's) sees 6 time positions, so the model is
    translation-equivariant only up to that head.

    Args:
        num_classes: logits.
        in_channels: channels of the input series.
        channels: base width ``C``.
        dropout: dropout after the first two dense layers.
        dense_relu: ReLU between the dense layers (see :class:`OneDCNN`).
        num_scales: scales of the lifting layer (at least ``4 (M - 1) + 1``).
        scale_kernel_size: scales ``M`` spanned by every group layer.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        channels: int = 12,
        dropout: float = 0.25,
        dense_relu: bool = False,
        num_scales: int = 9,
        scale_kernel_size: int = 3,
    ) -> None:
        super().__init__(num_classes, in_channels, INPUT_LENGTH)
        self.zoo_name = "w-1d-cnn"
        layers: list[nn.Module] = [
            wnn.LiftingConv1d(in_channels, channels, W_KERNELS[0], num_scales)
        ]
        c_in = channels
        for i, (k, pool) in enumerate(zip(W_KERNELS, POOLS, strict=True)):
            c = channels * 2**i
            if i > 0:
                layers.append(wnn.GroupConv1d(c_in, c, k, scale_kernel_size=scale_kernel_size))
            layers += [wnn.TimeMaxPool(2), nn.ReLU(), wnn.GroupBatchNorm(c, eps=EPS)]
            if pool > 1:
                layers.append(wnn.TimeMaxPool(pool))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.scale_pool = wnn.ScaleMaxPool()
        self.head = _dense_head(c_in * FINAL_LENGTH, channels, num_classes, dropout, dense_relu)
        init_he_uniform(self)
        init_normal_fan_in(self.head, linear=True)
        self._finish(FINAL_LENGTH)

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return self.head(self.scale_pool(self.features(x)))


_NOTES_BOTH = (
    "Fixed input length: the dense head flattens 6 time steps (see the accepted input "
    "range). Dense layers as the Wavelet Networks paper's code: no nonlinearity between "
    "them (dropout only), so the head is affine; dense_relu=True puts the ReLU of Abdoli "
    "et al.'s published architecture between them. "
)

#: The paper's trained W-1D-CNN: where it comes from and under which licence.
PRETRAINED = {
    "source": "github.com/dwromero/wavelet_networks, experiments/UrbanSound8K/saved/"
    "model_RR+_1DCNN_optim_adadelta_lr_1.0_wd_0.0_seed_0_wavelet_loss_proper_training_test10/"
    "model.pth",
    "sha256": "2c1ecc355419f2dfff9f667463fa0a1b753da8c2aaa7678b7cae63d28edbf345",
    "licence": "MIT, copyright (c) 2020 Erik J Bekkers (the Wavelet Networks repository)",
    "training": "UrbanSound8K folds 1-9 (fold 10 held out), 16 kHz, 4 s, wavelet loss, seed 0",
    "preprocessing": "int16 / 32768, mono by the mean, resampled to 16 kHz, zero padded "
    "(or cropped) about the centre to 64,000 samples, no normalisation",
}
_PRETRAINED_NOTE = (
    "Trained weights: the paper's own W-1D-CNN checkpoint (model.pth of the paper's "
    "repository, MIT licence; trained on UrbanSound8K folds 1-9, whose audio is CC BY-NC "
    "3.0) loads as it is: build('w-1d-cnn', 10, weights='model.pth'), or `wavelet-networks "
    "predict --model w-1d-cnn --ckpt model.pth clip.wav` with the paper's preprocessing; "
    "it reproduces the paper's logits (docs/models.md). Not shipped with the package."
)


def _common(**extra) -> dict:
    """Card fields shared by this module's models (a fresh ``extra`` dict per card)."""
    return dict(
        sample_rate=SAMPLE_RATE,
        input_length=INPUT_LENGTH,
        paper_result="not found (the paper's text was not available to look the number up)",
        extra={"num_classes": 10, "dataset": "UrbanSound8K", **extra},
    )


@register(
    ModelCard(
        name="1d-cnn",
        family="baseline",
        paper="Abdoli et al. 2019, End-to-end environmental sound classification using a "
        "1D convolutional neural network",
        twin="w-1d-cnn",
        reference_params=453_418,
        notes="Convs 64/32/16/8/4 taps at stride 2 (padding k//2, no bias), ReLU then BN "
        "(eps 2e-5), pools 8, 8, 5; init N(0, 1/fan_in) as the reference code. "
        + _NOTES_BOTH
        + "Overrides: channels (C = 16), dropout (0.25), dense_relu.",
        **_common(),
    )
)
def one_d_cnn(num_classes: int, in_channels: int = 1, **overrides) -> OneDCNN:
    """Build the 1D-CNN (see :class:`OneDCNN`)."""
    return OneDCNN(num_classes, in_channels, **overrides)


@register(
    ModelCard(
        name="w-1d-cnn",
        family="wavelet",
        paper="Romero et al. 2024, Wavelet Networks (TMLR), arXiv 2006.05259",
        twin="1d-cnn",
        reference_params=458_614,
        notes="C = 12: L(9, 63, 12), G(3, 31, 24), G(3, 15, 48), G(3, 7, 96), G(3, 3, 192), "
        "every stride 2 replaced by a stride-1 conv then P(2) (conv, pool, ReLU, BN as the "
        "reference); scales 9 -> 1. Deviation from 'mean over time, max over scales': the "
        "head is the baseline's dense head on the flattened (192 x 6) features, as the "
        "reference code and its parameter count (458,614) require. "
        + _NOTES_BOTH
        + "Overrides: channels (C = 12), dropout, dense_relu, num_scales, scale_kernel_size. "
        + _PRETRAINED_NOTE,
        **_common(pretrained=PRETRAINED),
    )
)
def w_one_d_cnn(num_classes: int, in_channels: int = 1, **overrides) -> WOneDCNN:
    """Build W-1D-CNN (see :class:`WOneDCNN`)."""
    return WOneDCNN(num_classes, in_channels, **overrides)

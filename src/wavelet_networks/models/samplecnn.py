"""SampleCNN of Lee et al. 2017 and its wavelet-network twin (MagnaTagATune, 50 tags).

Baseline (Lee, Park, Kim & Nam, "Sample-level deep convolutional neural
networks for music auto-tagging using raw waveforms", SMC 2017; the "3^9"
model): a 3-tap conv at stride 3, nine blocks of conv3 + BN + ReLU + P(3),
a last conv3 block, dropout 0.5 and a linear layer to the 50 tags
(multi-label: train with binary cross-entropy on the logits).

Twin (Romero et al. 2024): L(9, 3, 90) + P(3) replaces the stride-3 conv;
then ten group layers with 3 time taps, of which layers 2, 5, 8 and 11 span 3
scales and crop the scale axis (9 -> 7 -> 5 -> 3 -> 1), the others act per
scale; max over scales, dropout, linear to the tags.

Both heads read the single time step left after ten reductions by 3, so the
input length is fixed: ``(batch, in_channels, 59049)`` (3^10 samples, 2.7 s
at 22.05 kHz; accepted range ``model.min_length`` .. ``model.max_length``).
Longer clips: average the logits of consecutive 59,049-sample segments, as the
paper's evaluation does. Output ``(batch, num_classes)``.
"""

from __future__ import annotations

from torch import Tensor, nn

from wavelet_networks import nn as wnn
from wavelet_networks.models._base import ZooModel, init_he_uniform
from wavelet_networks.models.registry import ModelCard, register

__all__ = ["SampleCNN", "WSampleCNN"]

SAMPLE_RATE = 22050
INPUT_LENGTH = 59049  # 3 ** 10
WIDTHS = (1, 1, 2, 2, 2, 2, 2, 2, 4, 4)  # blocks 2..11, multiples of C
CROP_LAYERS = (0, 3, 6, 9)  # twin: indices in WIDTHS of the layers that span 3 scales
DROPOUT_AFTER = 4  # dropout after the block with this index in WIDTHS (the 6th conv)


def _check_dropout(p: float) -> None:
    if not 0 <= p < 1:
        raise ValueError(f"dropout must be in [0, 1), got {p}")


class SampleCNN(ZooModel):
    """SampleCNN (3^9 model) of Lee et al. 2017.

    Stage plan (``C`` = ``channels`` = 128)::

        conv(3/3, C) BN ReLU                       (B,1,59049) -> (B,128,19683)
        [conv(3, w) BN ReLU P(3)] x 9, w = C, C, 2C x 6, 4C   -> (B,512,1)
           (dropout after the 5th of these blocks)
        conv(3, 4C) BN ReLU, dropout               -> (B,512,1)
        flatten, linear(4C, num_classes)

    Args:
        num_classes: logits (50 tags in the paper).
        in_channels: channels of the input series.
        channels: base width ``C``.
        dropout: dropout probability (0.5 in the reference configuration).
        bias: conv biases (the reference code keeps PyTorch's default, ``True``;
            they are redundant before batch norm).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        channels: int = 128,
        dropout: float = 0.5,
        bias: bool = True,
    ) -> None:
        super().__init__(num_classes, in_channels, INPUT_LENGTH)
        self.zoo_name = "samplecnn"
        _check_dropout(dropout)
        layers: list[nn.Module] = [
            nn.Conv1d(in_channels, channels, 3, stride=3, bias=bias),
            nn.BatchNorm1d(channels),
            nn.ReLU(inplace=True),
        ]
        c_in = channels
        for i, mult in enumerate(WIDTHS):
            c = channels * mult
            layers += [
                nn.Conv1d(c_in, c, 3, padding=1, bias=bias),
                nn.BatchNorm1d(c),
                nn.ReLU(inplace=True),
            ]
            if i < len(WIDTHS) - 1:
                layers.append(nn.MaxPool1d(3))
            if i in (DROPOUT_AFTER, len(WIDTHS) - 1):
                layers.append(nn.Dropout(dropout))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c_in, num_classes))
        self._finish(1)

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return self.head(self.features(x))


class WSampleCNN(ZooModel):
    """W-SampleCNN: the wavelet-network twin of SampleCNN.

    Stage plan (``C`` = ``channels`` = 90)::

        L(9, 3, C) P(3) BN ReLU                     (B,1,59049) -> (B,90,9,59049) -> 19683
        layer 2:  G(3, 3, C)  BN ReLU P(3)          -> (B,90,7,19683) -> 6561
        layer 3:  G(1, 3, C)  BN ReLU P(3)          -> 2187
        layer 4:  G(1, 3, 2C) BN ReLU P(3)          -> 729
        layer 5:  G(3, 3, 2C) BN ReLU P(3)          -> (B,180,5,729) -> 243
        layer 6:  G(1, 3, 2C) BN ReLU P(3), dropout -> 81
        layer 7:  G(1, 3, 2C) BN ReLU P(3)          -> 27
        layer 8:  G(3, 3, 2C) BN ReLU P(3)          -> (B,180,3,27) -> 9
        layer 9:  G(1, 3, 2C) BN ReLU P(3)          -> 3
        layer 10: G(1, 3, 4C) BN ReLU P(3)          -> 1
        layer 11: G(3, 3, 4C) BN ReLU               -> (B,360,1,1)
        max over scales, dropout, flatten, linear(4C, num_classes)

    Args:
        num_classes: logits (50 tags in the paper).
        in_channels: channels of the input series.
        channels: base width ``C``.
        dropout: dropout probability (0.5).
        num_scales: scales of the lifting layer (at least ``4 (M - 1) + 1``).
        scale_kernel_size: scales ``M`` spanned by layers 2, 5, 8 and 11.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        channels: int = 90,
        dropout: float = 0.5,
        num_scales: int = 9,
        scale_kernel_size: int = 3,
    ) -> None:
        super().__init__(num_classes, in_channels, INPUT_LENGTH)
        self.zoo_name = "w-samplecnn"
        _check_dropout(dropout)
        layers: list[nn.Module] = [
            wnn.LiftingConvMaxPool1d(in_channels, channels, 3, num_scales, pool_size=3),
            wnn.GroupBatchNorm(channels),
            nn.ReLU(inplace=True),
        ]
        c_in = channels
        for i, mult in enumerate(WIDTHS):
            c = channels * mult
            m = scale_kernel_size if i in CROP_LAYERS else 1
            layers += [wnn.GroupConv1d(c_in, c, 3, scale_kernel_size=m)]
            layers += [wnn.GroupBatchNorm(c), nn.ReLU(inplace=True)]
            if i < len(WIDTHS) - 1:
                layers.append(wnn.TimeMaxPool(3))
            if i == DROPOUT_AFTER:
                layers.append(nn.Dropout(dropout))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.scale_pool = wnn.ScaleMaxPool()
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Flatten(), nn.Linear(c_in, num_classes))
        init_he_uniform(self)
        self._finish(1)

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return self.head(self.scale_pool(self.features(x)))


def _common() -> dict:
    """Card fields shared by this module's models (a fresh ``extra`` dict per card)."""
    return dict(
        sample_rate=SAMPLE_RATE,
        input_length=INPUT_LENGTH,
        paper_result="not found (the paper's text was not available to look the number up)",
        task="multilabel",
        extra={"num_classes": 50, "dataset": "MagnaTagATune (50 most frequent tags)"},
    )


@register(
    ModelCard(
        name="samplecnn",
        family="baseline",
        paper="Lee et al. 2017, Sample-level deep convolutional neural networks for music "
        "auto-tagging using raw waveforms",
        twin="w-samplecnn",
        reference_params=2_394_162,
        notes="Conv biases kept (PyTorch default, as the reference code; the reference "
        "parameter count includes them) although 'no conv biases' holds for the other "
        "models: bias=False removes 2,944 parameters. BN eps 1e-5, PyTorch default init. "
        "Fixed input length (one time step reaches the linear head). "
        "Overrides: channels (C = 128), dropout (0.5), bias.",
        **_common(),
    )
)
def samplecnn(num_classes: int, in_channels: int = 1, **overrides) -> SampleCNN:
    """Build SampleCNN (see :class:`SampleCNN`)."""
    return SampleCNN(num_classes, in_channels, **overrides)


@register(
    ModelCard(
        name="w-samplecnn",
        family="wavelet",
        paper="Romero et al. 2024, Wavelet Networks (TMLR), arXiv 2006.05259",
        twin="samplecnn",
        reference_params=2_403_860,
        notes="C = 90: L(9, 3, 90) + P(3), then 10 group layers with 3 taps; layers 2, 5, 8, "
        "11 are G(3, 3) with crop (9 -> 7 -> 5 -> 3 -> 1 scales), the others G(1, 3); "
        "widths 90, 90, 180 x 6, 360 x 2. No conv biases, BN eps 1e-5; dropout (elementwise, "
        "as the reference) after layer 6 and after the scale max. The head is max over "
        "scales then linear on the single remaining time step (no time mean needed). "
        "Overrides: channels (C = 90), dropout, num_scales, scale_kernel_size.",
        **_common(),
    )
)
def w_samplecnn(num_classes: int, in_channels: int = 1, **overrides) -> WSampleCNN:
    """Build W-SampleCNN (see :class:`WSampleCNN`)."""
    return WSampleCNN(num_classes, in_channels, **overrides)

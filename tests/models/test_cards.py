"""Model cards: measured parameters, receptive fields and MACs."""

from __future__ import annotations

import math

import pytest
import torch
from test_zoo import REFERENCE, ZOO, n_out

from wavelet_networks.models import build
from wavelet_networks.models.cards import describe, format_cards


def test_m3_card_by_hand():
    d = describe("m3")
    assert d["params"] == d["reference_params"] == 220_672
    assert d["params_diff_percent"] == 0
    assert (d["sample_rate"], d["input_length"], d["num_classes"]) == (22050, 88200, 10)
    assert (d["min_length"], d["max_length"]) == (60, None)
    # conv(80/4): 22051 outputs; P(4): 5512; conv(3): 5512; P(4): 1378; head on the mean.
    macs = 256 * 80 * 22051 + 256 * 256 * 3 * 5512 + 256 * 10
    assert d["macs_per_forward"] == macs
    assert d["macs_per_second"] == round(macs * 22050 / 88200)
    # 80 taps, then P(4) (+3 x 4), conv3 (+2 x 16), P(4) (+3 x 16).
    assert d["receptive_field_samples"] == 80 + 3 * 4 + 2 * 16 + 3 * 16
    assert d["receptive_field_ms"] == pytest.approx(1000 * 172 / 22050)


def test_w_m3_receptive_field_and_macs_by_hand():
    d = describe("w-m3")
    # Lifting at the coarsest scale 256: psi_256 spans 2 * floor(256 * (39 + 1.5)) + 1 taps;
    # P(4), P(4); G(3, 3) at its coarsest output scale 64: 2 * floor(64 * 2.5) + 1; P(4).
    lifting = 2 * math.floor(256 * 40.5) + 1
    group = 2 * math.floor(64 * 2.5) + 1
    assert d["receptive_field_samples"] == lifting + 3 + 3 * 4 + (group - 1) * 16 + 3 * 16
    # The dilated convolutions alone: 150 kernels of 79 taps at 9 scales on 88,200 samples,
    # then 150 x 450 x 3 at 7 scales on 5,512; the smoothing comes on top.
    dilated = 150 * 79 * 9 * 88200 + 150 * 450 * 3 * 7 * 5512
    assert d["macs_per_forward"] > dilated


@pytest.mark.parametrize("name", ["w-m5", "samplecnn", "w-1d-cnn"])
def test_describe_agrees_with_the_built_model(name):
    d = describe(name, num_classes=3)
    model = build(name, 3)
    assert d["params"] == sum(p.numel() for p in model.parameters())
    assert (d["min_length"], d["max_length"]) == (model.min_length, model.max_length)
    assert d["receptive_field_samples"] == model.receptive_field()
    assert d["overrides"]["channels"] > 0


def test_macs_count_the_smoothing():
    """A lifting layer alone: more than the dilated conv's taps (the B-spline smoothing)."""
    import wavelet_networks as wn
    from wavelet_networks.models.cards import _macs

    layer = wn.nn.LiftingConv1d(1, 4, 5, num_scales=3).to("meta")
    n = 1000
    conv = 4 * 5 * n * 3
    assert _macs(layer, n) > conv  # the smoothing (or longer sampled kernels) adds work


def test_format_cards_lists_every_model_with_reference_counts():
    text = format_cards()
    table = text.split("\n\n")[0]
    for name in ZOO:
        assert f"\n{name} " in "\n" + table
        assert f"{REFERENCE[name]:,}" in table
    assert "GMAC/s" in table and "vs twin %" in table
    # Baselines are followed by their twins.
    lines = [line.split()[0] for line in table.splitlines()[2:]]
    assert lines.index("w-m11") == lines.index("m11") + 1
    assert "notes:" in text and "overrides:" in text


def test_format_cards_subset_and_unknown_name():
    text = format_cards(["samplecnn"])
    assert "samplecnn" in text and "w-m3" not in text
    assert f"{n_out('samplecnn')} outputs" in text
    with pytest.raises(ValueError, match="unknown model"):
        describe("m4")


def test_describe_leaves_no_real_memory_behind():
    d = describe("w-samplecnn")
    assert d["macs_per_forward"] > 1e10  # computed on meta tensors, in no time
    assert torch.empty(1).device.type == "cpu"  # the meta device context was left

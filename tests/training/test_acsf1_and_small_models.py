"""The embedded ACSF1 data module and the two small default models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wavelet_networks as wn
from wavelet_networks.data import DATASETS
from wavelet_networks.data.acsf1 import (
    ACSF1DataModule,
    standardize_per_series,
    stratified_split,
)


@pytest.fixture(scope="module")
def acsf1() -> ACSF1DataModule:
    dm = ACSF1DataModule()
    dm.setup("fit")
    return dm


def _tensors(ds) -> tuple[torch.Tensor, torch.Tensor]:
    return ds.tensors[0], ds.tensors[1]


def test_registered_with_interface_attributes() -> None:
    assert DATASETS["acsf1"] is ACSF1DataModule
    dm = ACSF1DataModule()
    assert (dm.num_classes, dm.input_length, dm.in_channels, dm.task) == (10, 1460, 1,
                                                                         "multiclass")
    assert dm.description and dm.expected_layout


def test_splits_sizes_stratification_and_disjointness(acsf1: ACSF1DataModule) -> None:
    xtr, ytr = _tensors(acsf1._splits["train"])
    xva, yva = _tensors(acsf1._splits["val"])
    xte, yte = _tensors(acsf1._splits["test"])
    assert xtr.shape == (80, 1, 1460) and xva.shape == (20, 1, 1460) and xte.shape == (100, 1, 1460)
    assert xtr.dtype == torch.float32 and ytr.dtype == torch.int64
    assert torch.bincount(yva, minlength=10).tolist() == [2] * 10
    assert torch.bincount(ytr, minlength=10).tolist() == [8] * 10
    assert torch.bincount(yte, minlength=10).tolist() == [10] * 10
    # No validation series is also a training series.
    assert not any(torch.equal(a, b) for a in xva for b in xtr)


def test_split_is_seeded() -> None:
    y = np.repeat(np.arange(10), 10)
    assert all(np.array_equal(a, b) for a, b in zip(stratified_split(y, 0.2, 3),
                                                   stratified_split(y, 0.2, 3), strict=True))
    assert not np.array_equal(stratified_split(y, 0.2, 3)[1], stratified_split(y, 0.2, 4)[1])
    with pytest.raises(ValueError, match="val_fraction"):
        stratified_split(y, 0.0, 0)


def test_per_series_standardisation(acsf1: ACSF1DataModule) -> None:
    x, _ = _tensors(acsf1._splits["test"])
    assert torch.allclose(x.mean(-1), torch.zeros(100, 1), atol=1e-5)
    assert torch.allclose(x.std(-1, unbiased=False), torch.ones(100, 1), atol=1e-4)
    z = standardize_per_series(np.array([[3.0, 3.0, 3.0], [1.0, 2.0, 3.0]]))
    assert np.array_equal(z[0], np.zeros(3, dtype=np.float32))  # constant series -> zeros
    assert np.allclose(z[1], [-1.2247449, 0.0, 1.2247449])


def test_limit_per_class_and_loaders() -> None:
    dm = ACSF1DataModule(limit_per_class=3, batch_size=4)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 1, 1460) and y.shape == (4,)
    assert len(dm._splits["test"]) == 30


def test_missing_root_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ACSF1DataModule(root=str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match=r"ACSF1_TRAIN\.ts"):
        ACSF1DataModule(root=str(tmp_path))


def _params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_small_models_are_parameter_matched_and_registered() -> None:
    assert {"small-cnn", "w-small-cnn"} <= set(wn.models.available())
    base, wav = wn.models.build("small-cnn", 10), wn.models.build("w-small-cnn", 10)
    assert abs(_params(wav) - _params(base)) / _params(base) < 0.05
    assert wn.models.card("w-small-cnn").twin == "small-cnn"
    assert wn.models.card("w-small-cnn").family == "wavelet"


def test_w_small_cnn_uses_the_equivariant_layers_and_is_shift_invariant() -> None:
    m = wn.models.build("w-small-cnn", 10).eval()
    kinds = {type(mod).__name__ for mod in m.modules()}
    assert {"LiftingConv1d", "GroupConv1d", "GroupBatchNorm"} <= kinds
    x = torch.randn(2, 1, 1460)
    with torch.no_grad():
        assert m(x).shape == (2, 10)
        # Shifting by a multiple of the total time pooling (16) changes the logits
        # only through the borders: far less than a random input change.
        x_shift = torch.roll(x, 16, dims=-1)
        d_shift = (m(x) - m(x_shift)).abs().max()
        d_other = (m(x) - m(torch.randn(2, 1, 1460))).abs().max()
    assert d_shift < 0.2 * d_other
    with pytest.raises(ValueError, match=r"\(batch, 1, time\)"):
        m(torch.randn(2, 3, 1460))

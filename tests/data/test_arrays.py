"""The numpy-array data module: layouts, splits, labels, normalisation and bad input."""

from __future__ import annotations

from pathlib import Path

import jsonargparse
import numpy as np
import pytest
import torch

from wavelet_networks.data import DATASETS
from wavelet_networks.data.arrays import ArrayDataModule, encode_labels


def _toy(n_per_class: int = 10, channels: int | None = None, length: int = 32, seed: int = 0):
    """Series whose first sample identifies them (to check where each one went)."""
    rng = np.random.default_rng(seed)
    labels = np.array(["cat", "dog", "eel"]).repeat(n_per_class)
    n = len(labels)
    shape = (n, length) if channels is None else (n, channels, length)
    x = rng.normal(size=shape) * 3.0 + 5.0
    return x, labels


def _ids(dm: ArrayDataModule, split: str, raw: np.ndarray) -> list[int]:
    """Row of ``raw`` each series of ``split`` came from (after per-series z-score)."""
    x, _ = dm.split_arrays(split)
    flat = raw.reshape(len(raw), -1, raw.shape[-1])
    ref = (flat - flat.mean(-1, keepdims=True)) / flat.std(-1, keepdims=True)
    return [int(np.argmin(np.abs(ref - s).reshape(len(ref), -1).max(1))) for s in x]


def test_registered_and_configurable_from_yaml(tmp_path: Path) -> None:
    assert DATASETS["numpy"] is ArrayDataModule and ArrayDataModule.name == "numpy"
    x, y = _toy()
    np.savez(tmp_path / "d.npz", X_train=x, y_train=y)
    parser = jsonargparse.ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(ArrayDataModule, "data")
    cfg = parser.parse_string(f"data:\n  root: {tmp_path / 'd.npz'}\n  batch_size: 5\n")
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
    dm = instantiate(cfg).data
    assert isinstance(dm, ArrayDataModule) and dm.batch_size == 5
    assert dm.hparams["batch_size"] == 5 and dm.num_classes == 3


def test_official_test_split_is_kept_and_val_is_carved_from_train() -> None:
    x, y = _toy(10)
    xt, yt = _toy(4, seed=1)
    dm = ArrayDataModule.from_arrays(x, y, xt, yt, val_fraction=0.2, split_seed=3)
    assert dm.split_sizes() == {"train": 24, "val": 6, "test": 12}
    assert dm.class_names == ["cat", "dog", "eel"] and dm.in_channels == 1
    assert dm.input_length == 32
    # the test split is the given one, in its order
    assert _ids(dm, "test", xt) == list(range(12))
    _, y_test = dm.split_arrays("test")
    assert y_test.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    train, val = _ids(dm, "train", x), _ids(dm, "val", x)
    assert sorted(train + val) == list(range(30))  # disjoint, nothing lost
    _, y_val = dm.split_arrays("val")
    assert np.bincount(y_val).tolist() == [2, 2, 2]  # stratified
    again = ArrayDataModule.from_arrays(x, y, xt, yt, val_fraction=0.2, split_seed=3)
    assert _ids(again, "val", x) == val
    other = ArrayDataModule.from_arrays(x, y, xt, yt, val_fraction=0.2, split_seed=4)
    assert _ids(other, "val", x) != val


def test_without_test_split_both_are_stratified_shares() -> None:
    x, y = _toy(10, channels=2)
    dm = ArrayDataModule.from_arrays(x, y, val_fraction=0.2, test_fraction=0.3)
    assert dm.split_sizes() == {"train": 15, "val": 6, "test": 9}
    assert dm.in_channels == 2
    ids = [i for s in ("train", "val", "test") for i in _ids(dm, s, x)]
    assert sorted(ids) == list(range(30))
    assert np.bincount(dm.split_arrays("test")[1]).tolist() == [3, 3, 3]


def test_given_validation_split_is_used() -> None:
    x, y = _toy(5)
    xv, yv = _toy(2, seed=2)
    xt, yt = _toy(2, seed=3)
    dm = ArrayDataModule.from_arrays(x, y, xt, yt, xv, yv)
    assert dm.split_sizes() == {"train": 15, "val": 6, "test": 6}
    assert _ids(dm, "val", xv) == list(range(6))


def test_normalisation_per_series_and_none() -> None:
    x, y = _toy(4, channels=3)
    dm = ArrayDataModule.from_arrays(x, y, x, y)
    xs, _ = dm.split_arrays("test")
    assert np.allclose(xs.mean(-1), 0, atol=1e-5) and np.allclose(xs.std(-1), 1, atol=1e-4)
    raw = ArrayDataModule.from_arrays(x, y, x, y, normalize="none")
    assert np.allclose(raw.split_arrays("test")[0], x.astype(np.float32))
    assert dm.normalization == "per-series" and raw.normalization is None


def test_labels_of_any_type_sorted_like_numpy() -> None:
    classes, codes = encode_labels(np.array([3, -1, 3, 10]))
    assert classes.tolist() == [-1, 3, 10] and codes.tolist() == [1, 0, 1, 2]
    # numbers written as strings (the UCR archive's files) sort by value
    classes, codes = encode_labels(np.array(["10", "2", "-1", "2"]))
    assert classes.tolist() == ["-1", "2", "10"] and codes.tolist() == [2, 1, 0, 1]
    classes, _ = encode_labels(["b", "a", "c"])
    assert classes.tolist() == ["a", "b", "c"]
    classes, _ = encode_labels(np.array([True, False, True]))
    assert classes.tolist() == [False, True]


def test_loaders_give_float32_batches_and_int64_labels() -> None:
    x, y = _toy(5, channels=2)
    dm = ArrayDataModule.from_arrays(x, y, x, y, batch_size=4)
    xb, yb = next(iter(dm.test_dataloader()))
    assert xb.dtype == torch.float32 and xb.shape == (4, 2, 32)
    assert yb.dtype == torch.int64
    seen = torch.cat([yb for _, yb in dm.train_dataloader()])
    assert len(seen) == dm.split_sizes()["train"]


def test_npz_file_and_npy_folder(tmp_path: Path) -> None:
    x, y = _toy(6)
    xt, yt = _toy(2, seed=5)
    np.savez(tmp_path / "all.npz", X_train=x, y_train=y, X_test=xt, y_test=yt)
    a = ArrayDataModule(str(tmp_path / "all.npz"))
    folder = tmp_path / "npy"
    folder.mkdir()
    for name, arr in (("X_train", x), ("y_train", y), ("X_test", xt), ("y_test", yt)):
        np.save(folder / f"{name}.npy", arr)
    b = ArrayDataModule(str(folder))
    assert a.split_sizes() == b.split_sizes() == {"train": 15, "val": 3, "test": 6}
    for split in ("train", "val", "test"):
        assert np.array_equal(a.split_arrays(split)[0], b.split_arrays(split)[0])
    np.savez(tmp_path / "pool.npz", X=x, y=y)
    pooled = ArrayDataModule(str(tmp_path / "pool.npz"), test_fraction=0.5)
    assert pooled.split_sizes()["test"] == 9


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"X_train": np.zeros((4, 2, 3, 8))}, r"\(n_series, length\) or \(n_series, channels"),
        ({"X_train": np.array([["a", "b"]] * 4)}, "real numbers"),
        ({"X_train": np.where(np.eye(4, 8) > 0, np.nan, 1.0)}, "4 NaN or infinite values in 4"),
        ({"y_train": np.arange(5) % 2}, "X_train has 4 series but y_train 5 labels"),
        ({"y_train": np.zeros(4)}, "at least 2"),
        ({"X_test": np.ones((2, 9)), "y_test": np.array([0, 1])}, r"shape \(channels, length\)"),
        ({"X_test": np.ones((2, 8)), "y_test": np.array([0, 7])}, "never occur in the training"),
        ({"X_test": np.ones((2, 8))}, "y_test is missing"),
    ],
)
def test_bad_arrays_are_named(arrays: dict, match: str) -> None:
    given = {"X_train": np.random.default_rng(0).normal(size=(4, 8)),
             "y_train": np.array([0, 1, 0, 1])}
    given.update(arrays)
    with pytest.raises(ValueError, match=match):
        ArrayDataModule.from_arrays(**given).setup()


def test_bad_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.npz"):
        ArrayDataModule(str(tmp_path / "nope.npz"))
    np.savez(tmp_path / "wrong.npz", features=np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"holds the arrays \['features'\]|none; expected X_train"):
        ArrayDataModule(str(tmp_path / "wrong.npz")).setup()
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"cannot read .*broken\.npz"):
        ArrayDataModule(str(tmp_path / "broken.npz")).setup()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"X_train\.npy"):
        ArrayDataModule(str(empty)).setup()
    with pytest.raises(ValueError, match="val_fraction must be in"):
        ArrayDataModule(val_fraction=0.0)

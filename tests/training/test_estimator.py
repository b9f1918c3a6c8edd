"""WaveletNetworkClassifier: the README example, scikit-learn conventions, labels, shapes."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from wavelet_networks import WaveletNetworkClassifier

QUICK = {"max_epochs": 3, "progress_bar": False, "accelerator": "cpu"}


def _waves(n_per_class: int = 8, length: int = 64, channels: int | None = None, seed: int = 0):
    """Three classes of noisy sines of different frequencies; labels are strings."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    xs, ys = [], []
    for label, freq in (("low", 0.03), ("mid", 0.1), ("high", 0.3)):
        for _ in range(n_per_class):
            phase = rng.uniform(0, 2 * np.pi)
            xs.append(np.sin(2 * np.pi * freq * t + phase) + 0.3 * rng.normal(size=length))
            ys.append(label)
    x = np.stack(xs)
    if channels is not None:
        x = np.stack([x * (c + 1) for c in range(channels)], axis=1)
    return x, np.array(ys)


def _readme_example() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("<!-- estimator-example -->", 1)[1]
    return block.split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_example_on_a_bundled_set(capsys) -> None:
    """The README's three lines, run as written there, on GunPoint (bundled with aeon)."""
    from aeon.datasets import load_classification

    code = _readme_example()
    assert len(code.strip().splitlines()) == 3
    X_train, y_train = load_classification("GunPoint", split="train")
    X_test, y_test = load_classification("GunPoint", split="test")
    namespace = {"X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test}
    exec(code, namespace)
    accuracy = float(capsys.readouterr().out.strip().splitlines()[-1])
    # Above 1-NN with Euclidean distance, the archive's reference classifier.
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(1).fit(X_train[:, 0], y_train).score(X_test[:, 0], y_test)
    assert accuracy >= 0.9 and accuracy > knn
    clf = namespace["clf"]
    assert set(clf.classes_) == {"1", "2"} and clf.predict(X_test[:3]).dtype == y_test.dtype


def test_defaults_are_the_packaged_default_config() -> None:
    from wavelet_networks.cli.configs import config_path

    cfg = yaml.safe_load(config_path("default").read_text())
    params = WaveletNetworkClassifier().get_params()
    assert params["max_epochs"] == cfg["trainer"]["max_epochs"]
    for key in ("optimizer", "lr", "weight_decay", "scheduler", "warmup_steps",
                "wavelet_loss_weight", "model_name"):
        assert params[key] == cfg["model"][key], key
    assert params["batch_size"] == cfg["data"]["init_args"]["batch_size"]
    assert params["validation_fraction"] == cfg["data"]["init_args"]["val_fraction"]
    assert params["random_state"] == cfg["seed_everything"]


def test_clone_get_set_params() -> None:
    est = WaveletNetworkClassifier(model_name="small-cnn", lr=1e-3, model_overrides={"dropout": 0.1})
    copy = clone(est)
    assert copy is not est and copy.get_params() == est.get_params()
    assert copy.set_params(max_epochs=7) is copy and copy.max_epochs == 7 and est.max_epochs == 120
    x, y = _waves(4)
    fitted = WaveletNetworkClassifier(**QUICK).fit(x, y)
    fresh = clone(fitted)
    assert not hasattr(fresh, "network_") and fresh.get_params() == fitted.get_params()
    with pytest.raises(NotFittedError):
        fresh.predict(x)


def test_labels_of_any_type_come_back_as_given() -> None:
    x, y = _waves(6)
    for labels in (y, np.where(y == "low", 7, np.where(y == "mid", -3, 40)), y.tolist()):
        clf = WaveletNetworkClassifier(**QUICK).fit(x, labels)
        expected = np.unique(np.asarray(labels))
        assert np.array_equal(clf.classes_, expected)
        pred = clf.predict(x)
        assert set(pred.tolist()) <= set(expected.tolist())
        assert pred.dtype == expected.dtype
        proba = clf.predict_proba(x)
        assert proba.shape == (len(x), 3) and np.allclose(proba.sum(1), 1.0)
        assert np.array_equal(pred, clf.classes_[proba.argmax(1)])


def test_two_d_and_three_d_input_are_the_same_series() -> None:
    x, y = _waves(5)
    a = WaveletNetworkClassifier(**QUICK).fit(x, y)
    b = WaveletNetworkClassifier(**QUICK).fit(x[:, None, :], y)
    assert np.allclose(a.predict_proba(x), b.predict_proba(x[:, None, :]), atol=1e-6)
    assert a.n_channels_ == 1 and a.series_length_ == 64 and a.n_features_in_ == 64


def test_multichannel_series_and_shape_check_at_predict() -> None:
    x, y = _waves(5, channels=3)
    clf = WaveletNetworkClassifier(**QUICK).fit(x, y)
    assert clf.n_channels_ == 3 and clf.predict(x).shape == (15,)
    with pytest.raises(ValueError, match=r"\(channels, length\) = \(3, 64\) as in training"):
        clf.predict(x[:, :2])
    with pytest.raises(ValueError, match="Reshape your data"):
        clf.predict(x[0, 0])


def test_same_seed_same_model_other_seed_other_model() -> None:
    x, y = _waves(5)
    state = torch.random.get_rng_state()
    a = WaveletNetworkClassifier(random_state=3, **QUICK).fit(x, y).predict_proba(x)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is left alone
    b = WaveletNetworkClassifier(random_state=3, **QUICK).fit(x, y).predict_proba(x)
    c = WaveletNetworkClassifier(random_state=4, **QUICK).fit(x, y).predict_proba(x)
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_keeps_the_weights_of_the_best_validation_epoch() -> None:
    # Noise with random labels: the model only overfits, the validation loss rises.
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 64)), np.arange(40) % 2
    clf = WaveletNetworkClassifier(max_epochs=6, progress_bar=False, accelerator="cpu",
                                   lr=0.01, scheduler="none").fit(x, y)
    losses = [row["val/loss"] for row in clf.history_]
    assert len(losses) == 6
    assert clf.best_epoch_ == int(np.argmin(losses)) < 5
    # the kept network reproduces the best epoch's validation loss, not the last one's
    from wavelet_networks.data.acsf1 import standardize_per_series, stratified_split

    _, val = stratified_split(y, 0.2, 0)
    with torch.no_grad():
        logits = clf.network_(torch.from_numpy(standardize_per_series(x[val][:, None])))
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y[val]))
    assert abs(float(loss) - losses[clf.best_epoch_]) < 1e-4


def test_progress_bar_can_be_turned_off(capfd) -> None:
    x, y = _waves(3)
    WaveletNetworkClassifier(**QUICK).fit(x, y)
    out, err = capfd.readouterr()
    assert "Epoch" not in out + err and "GPU available" not in out + err
    WaveletNetworkClassifier(**{**QUICK, "progress_bar": True}).fit(x, y)
    out, err = capfd.readouterr()
    assert "Epoch 2" in out + err


def test_short_series_are_padded_with_a_warning() -> None:
    x, y = _waves(4, length=6)
    with pytest.warns(UserWarning, match="zero-padded at the end to 16"):
        clf = WaveletNetworkClassifier(**QUICK).fit(x, y)
    assert clf.min_length_ == 16 and clf.predict(x).shape == (12,)


def test_one_torch_thread_for_the_small_models_and_restored(monkeypatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert WaveletNetworkClassifier()._thread_count() == 1
    assert WaveletNetworkClassifier(num_threads=3)._thread_count() == 3
    assert WaveletNetworkClassifier(model_name="w-m5")._thread_count() is None
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert WaveletNetworkClassifier()._thread_count() is None
    before = torch.get_num_threads()
    x, y = _waves(3)
    WaveletNetworkClassifier(num_threads=1, **QUICK).fit(x, y)
    assert torch.get_num_threads() == before


def test_pickled_estimator_predicts_the_same() -> None:
    x, y = _waves(4)
    clf = WaveletNetworkClassifier(**QUICK).fit(x, y)
    again = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(clf.predict_proba(x), again.predict_proba(x))


def test_bad_parameters_are_named() -> None:
    x, y = _waves(3)
    for params, match in (({"normalize": "global"}, "normalize must be"),
                          ({"validation_fraction": 1.0}, "validation_fraction must be"),
                          ({"max_epochs": 0}, "max_epochs must be")):
        with pytest.raises(ValueError, match=match):
            WaveletNetworkClassifier(**params).fit(x, y)
    with pytest.raises(ValueError, match="unknown model"):
        WaveletNetworkClassifier(model_name="m99", **QUICK).fit(x, y)


def test_works_with_scikit_learn_and_aeon_tools() -> None:
    """cross_val_score (clones and refits) and aeon's resampling and statistics."""
    from aeon.benchmarking.resampling import stratified_resample_data
    from aeon.benchmarking.stats import wilcoxon_test
    from sklearn.model_selection import cross_val_score

    x, y = _waves(6)
    scores = cross_val_score(WaveletNetworkClassifier(**QUICK), x, y, cv=2)
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))
    xt, yt = _waves(3, seed=1)
    rows = []
    for seed in range(2):
        a, b, c, d = stratified_resample_data(x[:, None], y, xt[:, None], yt, random_state=seed)
        rows.append([WaveletNetworkClassifier(model_name=m, **QUICK).fit(a, b).score(c, d)
                     for m in ("w-small-cnn", "small-cnn")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = wilcoxon_test(np.array(rows), ["w-small-cnn", "small-cnn"])
    assert table.shape == (2, 2)


@pytest.mark.gpu
def test_fits_and_predicts_on_a_gpu() -> None:
    x, y = _waves(6)
    clf = WaveletNetworkClassifier(max_epochs=3, progress_bar=False, accelerator="gpu").fit(x, y)
    assert next(clf.network_.parameters()).is_cuda
    cpu = WaveletNetworkClassifier(max_epochs=3, progress_bar=False, accelerator="cpu").fit(x, y)
    assert clf.predict(x).shape == (18,)
    assert np.abs(clf.predict_proba(x) - cpu.predict_proba(x)).max() < 0.05
    again = pickle.loads(pickle.dumps(clf))
    assert not next(again.network_.parameters()).is_cuda
    assert np.allclose(again.predict_proba(x), clf.predict_proba(x), atol=1e-4)

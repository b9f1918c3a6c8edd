"""A scikit-learn classifier around the training engine: numpy arrays in, labels out.

>>> from wavelet_networks import WaveletNetworkClassifier
>>> clf = WaveletNetworkClassifier().fit(X_train, y_train)      # doctest: +SKIP
>>> clf.score(X_test, y_test)                                     # doctest: +SKIP

``X`` is ``(n_series, length)`` or ``(n_series, channels, length)`` (the layout
of aeon, sktime and tslearn), ``y`` holds one label per series, of any type
numpy can sort. Training is the ``wavelet-networks fit`` engine: the model of
the zoo wrapped in :class:`~wavelet_networks.training.WaveformClassifier`,
trained by a Lightning ``Trainer`` with the defaults of the packaged
``default`` config (Adam, lr 3e-3, weight decay 1e-4, cosine schedule, 120
epochs, batch 16), a stratified share of the training series held out for
validation, and the weights of the epoch with the lowest validation loss kept.

Why scikit-learn's ``BaseEstimator`` and not aeon's ``BaseClassifier``: aeon's
base class sets attributes in ``__init__`` (``classes_ = []``), which
scikit-learn's estimator checks reject, while aeon's benchmarking tools
(:mod:`aeon.benchmarking` resampling and statistics,
:func:`aeon.visualisation.plot_critical_difference`) work on arrays and
scores, not on a base class. See ``docs/timeseries.md``.
"""

from __future__ import annotations

import copy
import logging
import time
import warnings
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d

__all__ = ["WaveletNetworkClassifier"]

_LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning")


@contextmanager
def _quiet_lightning():
    """Lightning's info lines (GPU available, ...) and known harmless warnings, hidden."""
    levels = {}
    for name in _LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        levels[name] = logger.level
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for pattern in (r"The '\w+_dataloader' does not have many workers",
                            r"The number of training batches", r".*LeafSpec.*",
                            r".*`isinstance\(treespec, LeafSpec\)`.*"):
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


_SMALL_MODELS = ("w-small-cnn", "small-cnn")


@contextmanager
def _threads(n: int | None):
    """torch's intra-op thread count set to ``n`` inside the block (``None``: unchanged)."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _min_length(network: Any, channels: int) -> int:
    """The shortest input the network accepts (its ``min_length``, else found by trying)."""
    known = getattr(network, "min_length", None)
    if known is not None:
        return int(known)

    def works(n: int) -> bool:
        try:
            with torch.no_grad():
                network(torch.zeros(2, channels, n))
        except (RuntimeError, ValueError):
            return False
        return True

    was_training = network.training
    network.eval()
    try:
        hi = 1
        while not works(hi):
            if hi >= 2**16:
                return 1  # leave the error to the first real forward
            hi *= 2
        lo = hi // 2
        while lo + 1 < hi:  # lo fails (or is 0), hi works
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if works(mid) else (mid, hi)
        return hi
    finally:
        network.train(was_training)


class _BestWeights(Callback):
    """Keeps a copy of the network's weights at the epoch with the lowest ``val/loss``.

    The first of equal losses wins, as with Lightning's ``ModelCheckpoint`` in ``fit``.
    """

    def __init__(self) -> None:
        self.best: float | None = None
        self.epoch: int | None = None
        self.state: dict[str, Any] | None = None

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        loss = trainer.callback_metrics.get("val/loss")
        if loss is None:
            return
        value = float(loss)
        if self.best is None or value < self.best:
            self.best, self.epoch = value, trainer.current_epoch
            self.state = {k: v.detach().clone() for k, v in pl_module.model.state_dict().items()}


class _History(Callback):
    """Per-epoch metrics (training and validation loss and accuracy) as a list of dicts."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        row: dict[str, float] = {"epoch": trainer.current_epoch}
        for key, value in trainer.callback_metrics.items():
            if key.startswith(("train/", "val/")) and value.numel() == 1:
                row[key] = float(value)
        self.rows.append(row)


class WaveletNetworkClassifier(ClassifierMixin, BaseEstimator):
    """Time-series classifier: a network of the zoo trained by the ``fit`` engine.

    Args:
        model_name: registry name of the network (``wavelet-networks models``);
            ``"w-small-cnn"`` (the wavelet network) or its CNN twin ``"small-cnn"``
            suit short series; the paper's M-nets expect thousands of samples.
        model_overrides: keyword arguments of the network's constructor
            (e.g. ``{"dropout": 0.1}``).
        max_epochs: training epochs.
        batch_size: training batch size.
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"`` or ``"adadelta"``.
        lr: learning rate.
        weight_decay: L2 weight decay.
        scheduler: ``"cosine"`` (over ``max_epochs``), ``"plateau"`` or ``"none"``.
        warmup_steps: linear learning-rate warm-up over this many steps.
        wavelet_loss_weight: weight of :func:`wavelet_networks.wavelet_loss`.
        label_smoothing: label smoothing of the cross-entropy.
        validation_fraction: share of every class held out to choose the best
            epoch (by validation loss). Classes too small to give one series
            keep all theirs; with no validation series at all the last epoch's
            weights are kept.
        normalize: ``"per-series"`` (z-score every channel of every series,
            in ``fit`` and ``predict``) or ``"none"``.
        accelerator: Lightning accelerator: ``"auto"`` (a GPU when there is
            one), ``"cpu"``, ``"gpu"``, ``"mps"``; one device.
        progress_bar: show Lightning's progress bar while training.
        random_state: seed of the initial weights, the validation split and the
            batch order (``None``: a fresh seed each fit). Training is
            reproducible on the CPU; GPU kernels may not be deterministic.
        num_workers: DataLoader worker processes.
        num_threads: torch intra-op threads while fitting and predicting (restored
            afterwards). ``None``: one thread for the small models (``w-small-cnn``,
            ``small-cnn``) unless ``OMP_NUM_THREADS`` is set, as ``wavelet-networks
            fit`` trains its default pair (their convolutions are too small to gain
            from threads, and on a busy machine two threads made a training step many
            times slower); torch's own setting for the other models.

    Attributes (after ``fit``):
        classes_: the distinct training labels, sorted; ``predict`` returns them.
        n_features_in_: ``channels * length`` of the training series.
        n_channels_, series_length_: their channels and length.
        network_: the trained network (``torch.nn.Module``, evaluation mode),
            weights of ``best_epoch_``.
        best_epoch_: epoch (0-based) with the lowest validation loss (``None``
            without validation series).
        history_: one dict of metrics per epoch (``train/loss``, ``val/loss``, ...).
        n_params_: trainable parameters of the network.
        fit_time_s_: seconds spent in training.

    Series shorter than the network's shortest accepted input (16 samples for
    the small models) are zero-padded at the end, with a warning.
    """

    def __init__(
        self,
        model_name: str = "w-small-cnn",
        model_overrides: dict[str, Any] | None = None,
        max_epochs: int = 120,
        batch_size: int = 16,
        optimizer: str = "adam",
        lr: float = 0.003,
        weight_decay: float = 0.0001,
        scheduler: str = "cosine",
        warmup_steps: int = 0,
        wavelet_loss_weight: float = 0.0,
        label_smoothing: float = 0.0,
        validation_fraction: float = 0.2,
        normalize: str = "per-series",
        accelerator: str = "auto",
        progress_bar: bool = True,
        random_state: int | None = 0,
        num_workers: int = 0,
        num_threads: int | None = None,
    ) -> None:
        self.model_name = model_name
        self.model_overrides = model_overrides
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.scheduler = scheduler
        self.warmup_steps = warmup_steps
        self.wavelet_loss_weight = wavelet_loss_weight
        self.label_smoothing = label_smoothing
        self.validation_fraction = validation_fraction
        self.normalize = normalize
        self.accelerator = accelerator
        self.progress_bar = progress_bar
        self.random_state = random_state
        self.num_workers = num_workers
        self.num_threads = num_threads

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = False
        tags.classifier_tags.multi_label = False
        tags.non_deterministic = self.accelerator not in ("cpu",)
        return tags

    # ------------------------------------------------------------------ input
    def _series(self, X: Any, fitting: bool) -> np.ndarray:
        """``X`` as float32 ``(n, channels, length)``, checked (against the training shape)."""
        from wavelet_networks.data.arrays import as_series

        if not fitting:
            check_is_fitted(self, "network_")
        # scikit-learn's checks (sparse, complex, object dtype, 1-D input) with its messages;
        # NaN and infinity are reported by as_series.
        a = check_array(X, accept_sparse=False, dtype="numeric", allow_nd=True,
                        ensure_all_finite=False, input_name="X")
        x = as_series(a, "X")
        if fitting:
            return x
        if x.shape[1] != self.n_channels_ or x.shape[2] != self.series_length_:
            n_features = x.shape[1] * x.shape[2]
            raise ValueError(
                f"X has {n_features} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input: series of shape (channels, length) "
                f"= {(self.n_channels_, self.series_length_)} as in training, got "
                f"{tuple(x.shape[1:])}"
            )
        return x

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        """Normalise, then zero-pad series shorter than the network accepts."""
        from wavelet_networks.data.acsf1 import standardize_per_series

        if self.normalize == "per-series":
            x = standardize_per_series(x)
        if x.shape[-1] < self.min_length_:
            padded = np.zeros((*x.shape[:2], self.min_length_), dtype=np.float32)
            padded[..., : x.shape[-1]] = x
            x = padded
        return np.ascontiguousarray(x, dtype=np.float32)

    def _thread_count(self) -> int | None:
        import os

        if self.num_threads is not None:
            return int(self.num_threads)
        if self.model_name in _SMALL_MODELS and "OMP_NUM_THREADS" not in os.environ:
            return 1
        return None

    def _check_params(self) -> None:
        if self.normalize not in ("per-series", "none"):
            raise ValueError(f"normalize must be 'per-series' or 'none', got {self.normalize!r}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got "
                             f"{self.validation_fraction}")
        for key in ("max_epochs", "batch_size"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{key} must be an integer >= 1, got {value!r}")

    # -------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any) -> WaveletNetworkClassifier:
        """Train on ``X`` ``(n, length)`` or ``(n, channels, length)`` and labels ``y``."""
        import lightning as L
        from torch.utils.data import TensorDataset

        from wavelet_networks.data._common import make_loader
        from wavelet_networks.data.acsf1 import stratified_split
        from wavelet_networks.data.arrays import encode_labels
        from wavelet_networks.training import WaveformClassifier

        self._check_params()
        x = self._series(X, fitting=True)
        y_arr = column_or_1d(y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y),
                             warn=True)
        if len(y_arr) != len(x):
            raise ValueError(f"X has {len(x)} series but y {len(y_arr)} labels; expected one "
                             "label per series")
        check_classification_targets(y_arr)
        classes, codes = encode_labels(y_arr, "y")
        self.classes_ = classes
        self.n_channels_, self.series_length_ = int(x.shape[1]), int(x.shape[2])
        self.n_features_in_ = self.n_channels_ * self.series_length_
        seed = self.random_state
        if seed is None:
            seed = int(np.random.default_rng().integers(2**31 - 1))
        if len(classes) == 1:
            # Nothing to learn: every prediction is the one class (as scikit-learn's
            # classifiers that accept a single class do).
            self.network_ = None
            self.min_length_, self.best_epoch_, self.history_ = 1, None, []
            self.n_params_, self.fit_time_s_ = 0, 0.0
            return self
        if self.validation_fraction > 0 and len(x) > 1:
            train_idx, val_idx = stratified_split(codes, self.validation_fraction, int(seed))
        else:
            train_idx, val_idx = np.arange(len(x)), np.arange(0)
        if len(val_idx) == 0 and self.scheduler == "plateau":
            raise ValueError("scheduler='plateau' follows the validation loss; there are no "
                             "validation series (validation_fraction, or classes too small)")
        t0 = time.perf_counter()
        with torch.random.fork_rng(devices=[]), _quiet_lightning(), _threads(
            self._thread_count()
        ):
            torch.manual_seed(int(seed))
            module = WaveformClassifier(
                model_name=self.model_name,
                model_overrides=self.model_overrides,
                num_classes=len(classes),
                in_channels=self.n_channels_,
                task="multiclass",
                optimizer=self.optimizer,
                lr=self.lr,
                weight_decay=self.weight_decay,
                scheduler=self.scheduler,
                warmup_steps=self.warmup_steps,
                wavelet_loss_weight=self.wavelet_loss_weight,
                label_smoothing=self.label_smoothing,
            )
            self.min_length_ = _min_length(module.model, self.n_channels_)
            if x.shape[-1] < self.min_length_:
                warnings.warn(
                    f"series of {x.shape[-1]} samples are shorter than {self.model_name} "
                    f"accepts; they are zero-padded at the end to {self.min_length_}",
                    UserWarning, stacklevel=2,
                )
            xp = torch.from_numpy(self._prepare(x))
            yt = torch.from_numpy(codes)
            train = make_loader(TensorDataset(xp[train_idx], yt[train_idx]), self.batch_size,
                                True, self.num_workers, int(seed))
            val = None
            if len(val_idx):
                val = make_loader(TensorDataset(xp[val_idx], yt[val_idx]), self.batch_size,
                                  False, self.num_workers, int(seed))
            best, history = _BestWeights(), _History()
            trainer = L.Trainer(
                max_epochs=int(self.max_epochs),
                accelerator=self.accelerator,
                devices=1,
                logger=False,
                enable_checkpointing=False,
                enable_model_summary=False,
                enable_progress_bar=bool(self.progress_bar),
                num_sanity_val_steps=0,
                log_every_n_steps=5,
                callbacks=[best, history],
            )
            trainer.fit(module, train_dataloaders=train, val_dataloaders=val)
            if trainer.interrupted:
                raise KeyboardInterrupt
        self.fit_time_s_ = time.perf_counter() - t0
        network = module.model
        if best.state is not None:
            network.load_state_dict(best.state)
        network.eval()
        self.network_ = network
        self.best_epoch_ = best.epoch
        self.history_ = history.rows
        self.n_params_ = int(sum(p.numel() for p in network.parameters() if p.requires_grad))
        return self

    # ---------------------------------------------------------------- predict
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n, n_classes)``, columns in the order of ``classes_``."""
        x = self._series(X, fitting=False)
        if self.network_ is None:  # a single training class
            return np.ones((len(x), 1))
        network = self.network_
        device = next(network.parameters()).device
        xp = torch.from_numpy(self._prepare(x))
        out = []
        step = max(int(self.batch_size), 64)
        with torch.inference_mode(), _threads(self._thread_count()):
            for i in range(0, len(xp), step):
                logits = network(xp[i: i + step].to(device))
                out.append(logits.float().softmax(-1).cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of every series (values of ``classes_``)."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def __getstate__(self) -> dict[str, Any]:
        # A fitted network pickles with its weights on the CPU (loadable without a GPU).
        state = super().__getstate__()
        if state.get("network_") is not None:
            state["network_"] = copy.deepcopy(state["network_"]).cpu()
        return state

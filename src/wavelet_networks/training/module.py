"""The LightningModule that trains and evaluates any model of the zoo."""

from __future__ import annotations

import math
from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MultilabelAUROC,
    MultilabelAveragePrecision,
)

__all__ = ["WaveformClassifier"]

Task = Literal["multiclass", "multilabel"]
OptimizerName = Literal["adam", "adamw", "sgd", "adadelta"]
SchedulerName = Literal["none", "plateau", "cosine"]


class WaveformClassifier(L.LightningModule):
    """Classifier (multiclass) or tagger (multilabel) around a network of the zoo.

    The network is built with :func:`wavelet_networks.models.build`. Training
    batches are ``(x, y)`` with ``x`` of shape ``(batch, channels, time)``;
    evaluation batches may be ``(batch, segments, channels, time)``, in which
    case every segment is scored and the logits are averaged over segments.

    Args:
        model_name: registry name of the network (``wavelet-networks models``).
        model_overrides: keyword arguments for the network's constructor.
        num_classes: number of classes or tags (linked from the data module).
        in_channels: channels of the input series (linked from the data module).
        task: ``"multiclass"`` (cross-entropy) or ``"multilabel"`` (BCE on logits);
            linked from the data module.
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"`` (Nesterov-free, ``momentum``)
            or ``"adadelta"``.
        lr: learning rate.
        weight_decay: L2 weight decay of the optimiser.
        momentum: momentum of SGD.
        scheduler: ``"none"``, ``"plateau"`` (ReduceLROnPlateau on ``val/loss``) or
            ``"cosine"`` (cosine annealing over ``max_epochs``).
        plateau_factor: factor of ReduceLROnPlateau.
        plateau_patience: patience (epochs) of ReduceLROnPlateau.
        warmup_steps: linear LR warm-up over this many optimiser steps (0: off).
        wavelet_loss_weight: weight of :func:`wavelet_networks.wavelet_loss`
            added to the training loss (0: off; the paper used 1.0).
        label_smoothing: label smoothing of the cross-entropy (multiclass only).
    """

    def __init__(
        self,
        model_name: str = "w-small-cnn",
        model_overrides: dict[str, Any] | None = None,
        num_classes: int = 10,
        in_channels: int = 1,
        task: Task = "multiclass",
        optimizer: OptimizerName = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        scheduler: SchedulerName = "none",
        plateau_factor: float = 0.5,
        plateau_patience: int = 10,
        warmup_steps: int = 0,
        wavelet_loss_weight: float = 0.0,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        from wavelet_networks.models import build

        if task not in ("multiclass", "multilabel"):
            raise ValueError(f"task must be 'multiclass' or 'multilabel', got {task!r}")
        if not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"lr must be a finite number > 0, got {lr}")
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.save_hyperparameters()
        self.model: nn.Module = build(
            model_name, num_classes=num_classes, in_channels=in_channels, **(model_overrides or {})
        )
        self.num_parameters = sum(p.numel() for p in self.model.parameters())
        if task == "multiclass":
            self.val_metrics = MetricCollection(
                {"acc": MulticlassAccuracy(num_classes, average="micro")}, prefix="val/"
            )
            self.test_metrics = MetricCollection(
                {
                    "acc": MulticlassAccuracy(num_classes, average="micro"),
                    "acc_per_class": MulticlassAccuracy(num_classes, average=None),
                    "confusion_matrix": MulticlassConfusionMatrix(num_classes),
                },
                prefix="test/",
            )
        else:
            self.val_metrics = MetricCollection(
                {
                    "roc_auc": MultilabelAUROC(num_classes, average="macro"),
                    "pr_auc": MultilabelAveragePrecision(num_classes, average="macro"),
                },
                prefix="val/",
            )
            self.test_metrics = self.val_metrics.clone(prefix="test/")
        #: The last test run's metrics as plain Python values (see :meth:`on_test_epoch_end`).
        self.test_results: dict[str, Any] = {}

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, num_classes)``; a 4-D input's segment logits are averaged."""
        if x.dim() == 4:
            b, s = x.shape[:2]
            return self.model(x.flatten(0, 1)).view(b, s, -1).mean(dim=1)
        if x.dim() != 3:
            raise ValueError(
                "expected (batch, channels, time) or (batch, segments, channels, time), "
                f"got {tuple(x.shape)}"
            )
        return self.model(x)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Class probabilities (softmax) or independent tag probabilities (sigmoid)."""
        if self.hparams.task == "multiclass":
            return logits.softmax(dim=-1)
        return logits.sigmoid()

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.hparams.task == "multiclass":
            return F.cross_entropy(logits, y, label_smoothing=self.hparams.label_smoothing)
        return F.binary_cross_entropy_with_logits(logits, y.float())

    def _targets(self, y: torch.Tensor) -> torch.Tensor:
        return y if self.hparams.task == "multiclass" else y.int()

    # ----------------------------------------------------------------- training
    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        x, y = batch
        logits = self(x)
        loss = self._loss(logits, y)
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        if self.hparams.wavelet_loss_weight:
            from wavelet_networks import wavelet_loss

            wl = wavelet_loss(self.model)
            self.log("train/wavelet_loss", wl, on_step=False, on_epoch=True, batch_size=len(y))
            loss = loss + self.hparams.wavelet_loss_weight * wl
        if self.hparams.task == "multiclass":
            acc = (logits.argmax(-1) == y).float().mean()
            self.log("train/acc", acc, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.log("val/loss", self._loss(logits, y), prog_bar=True, batch_size=len(y),
                 sync_dist=True)
        self.val_metrics.update(self.probabilities(logits), self._targets(y))

    def on_validation_epoch_end(self) -> None:
        self.log_dict(self.val_metrics.compute(), prog_bar=True)
        self.val_metrics.reset()

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.log("test/loss", self._loss(logits, y), batch_size=len(y), sync_dist=True)
        self.test_metrics.update(self.probabilities(logits), self._targets(y))

    def on_test_epoch_start(self) -> None:
        self.test_results = {}

    def on_test_epoch_end(self) -> None:
        values = self.test_metrics.compute()
        self.test_metrics.reset()
        results: dict[str, Any] = {}
        for key, value in values.items():
            results[key] = value.tolist()
            if value.numel() == 1:
                self.log(key, value)
        self.test_results = results

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.probabilities(self(x))

    # --------------------------------------------------------------- optimiser
    def configure_optimizers(self):
        hp = self.hparams
        params = self.model.parameters()
        if hp.optimizer == "adam":
            opt = torch.optim.Adam(params, lr=hp.lr, weight_decay=hp.weight_decay)
        elif hp.optimizer == "adamw":
            opt = torch.optim.AdamW(params, lr=hp.lr, weight_decay=hp.weight_decay)
        elif hp.optimizer == "sgd":
            opt = torch.optim.SGD(
                params, lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay
            )
        elif hp.optimizer == "adadelta":
            opt = torch.optim.Adadelta(params, lr=hp.lr, weight_decay=hp.weight_decay)
        else:  # pragma: no cover - Literal is validated by the CLI
            raise ValueError(f"unknown optimizer {hp.optimizer!r}")
        if hp.scheduler == "plateau":
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt, mode="min", factor=hp.plateau_factor, patience=hp.plateau_patience
            )
            return {
                "optimizer": opt,
                "lr_scheduler": {"scheduler": sched, "monitor": "val/loss", "interval": "epoch"},
            }
        if hp.scheduler == "cosine":
            epochs = max(1, int(self.trainer.max_epochs or 1)) if self._trainer else 1
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
        return opt

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None) -> None:
        """Linear LR warm-up: step ``i < warmup_steps`` uses ``lr * (i + 1) / warmup_steps``.

        The schedule (e.g. ReduceLROnPlateau) acts from then on; the warm-up
        overrides any change it made during the warm-up steps.
        """
        warm = self.hparams.warmup_steps
        step = self.trainer.global_step
        if warm and step <= warm:
            scale = min(1.0, (step + 1) / warm)
            for group in optimizer.param_groups:
                group["lr"] = scale * self.hparams.lr
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)

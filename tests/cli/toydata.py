"""Test helpers importable by class path: a tiny k-fold data set and an interrupting callback."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from wavelet_networks.data import WaveformDataModule


class ToyFolds(WaveformDataModule):
    """Two classes of noisy sines (low vs high frequency), split into ``num_folds`` folds."""

    task = "multiclass"
    description = "toy k-fold data for tests"
    expected_layout = "none"
    num_folds = 3

    def __init__(self, fold: int = 1, batch_size: int = 8, per_fold: int = 8) -> None:
        super().__init__()
        if not 1 <= fold <= self.num_folds:
            raise ValueError(f"fold must be in 1..{self.num_folds}, got {fold}")
        self.fold, self.batch_size, self.per_fold = fold, batch_size, per_fold

    num_classes = 2  # type: ignore[assignment]
    class_names = ("low", "high")  # type: ignore[assignment]
    input_length = 128  # type: ignore[assignment]

    def _fold(self, k: int) -> TensorDataset:
        g = torch.Generator().manual_seed(k)
        y = torch.arange(self.per_fold) % 2
        t = torch.arange(self.input_length, dtype=torch.float32)
        freq = torch.where(y == 0, 0.02, 0.2)[:, None]
        x = torch.sin(2 * torch.pi * freq * t) + 0.3 * torch.randn(self.per_fold, 128, generator=g)
        return TensorDataset(x[:, None], y)

    def train_dataloader(self) -> DataLoader:
        others = [k for k in range(1, self.num_folds + 1) if k != self.fold]
        ds = torch.utils.data.ConcatDataset([self._fold(k) for k in others])
        return DataLoader(ds, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self._fold(100 + self.fold), batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self._fold(self.fold), batch_size=self.batch_size)


class InterruptAfterEpoch(L.Callback):
    """Raises KeyboardInterrupt (like Ctrl+C) once training epoch ``epoch`` has finished."""

    def __init__(self, epoch: int = 0) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch + 1:
            raise KeyboardInterrupt

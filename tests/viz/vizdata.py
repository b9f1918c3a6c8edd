"""A tiny configured data set (importable by class path) for the studies' tests."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, TensorDataset

from wavelet_networks.data import WaveformDataModule


class ToySines(WaveformDataModule):
    """Two classes of noisy sines (slow vs fast) of 256 samples; test batches are segmented.

    The test split is ``(batch, segments=2, channels=1, time)``, as for data sets
    scored over several segments per clip.
    """

    task = "multiclass"
    description = "toy sines for tests"
    expected_layout = "none"
    num_classes = 2  # type: ignore[assignment]
    class_names = ("slow", "fast")  # type: ignore[assignment]
    input_length = 256  # type: ignore[assignment]

    def __init__(self, batch_size: int = 8, n: int = 16) -> None:
        super().__init__()
        self.batch_size, self.n = batch_size, n

    def _make(self, seed: int, segments: int | None = None) -> TensorDataset:
        g = torch.Generator().manual_seed(seed)
        y = torch.arange(self.n) % 2
        t = torch.arange(self.input_length, dtype=torch.float32)
        freq = torch.where(y == 0, 0.02, 0.12)[:, None]
        phase = torch.rand(self.n, 1, generator=g) * 6.28
        x = torch.sin(2 * torch.pi * freq * t + phase)
        x = x + 0.2 * torch.randn(self.n, self.input_length, generator=g)
        x = x[:, None]
        if segments:
            x = torch.stack([x, x.roll(7, -1)], dim=1)
        return TensorDataset(x, y)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self._make(0), batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self._make(1), batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self._make(2, segments=2), batch_size=self.batch_size)

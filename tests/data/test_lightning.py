"""The data modules under a real Lightning Trainer (hooks called by Lightning, not by hand)."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch import nn

from wavelet_networks.data.magnatagatune import MagnaTagATuneDataModule
from wavelet_networks.data.urbansound8k import UrbanSound8KDataModule


class TinyModel(L.LightningModule):
    """Mean-pools the waveform; averages logits over segments for 4-D evaluation batches."""

    def __init__(self, num_classes: int, multilabel: bool) -> None:
        super().__init__()
        self.head = nn.Linear(1, num_classes)
        self.multilabel = multilabel
        self.seen: dict[str, list[tuple[int, ...]]] = {"train": [], "val": [], "test": []}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:  # (batch, segments, channels, time)
            b, s = x.shape[:2]
            return self(x.flatten(0, 1)).view(b, s, -1).mean(1)
        return self.head(x.abs().mean(dim=(1, 2))[:, None])

    def _loss(self, batch, split: str) -> torch.Tensor:
        x, y = batch
        self.seen[split].append(tuple(x.shape))
        logits = self(x)
        if self.multilabel:
            return nn.functional.binary_cross_entropy_with_logits(logits, y)
        return nn.functional.cross_entropy(logits, y)

    def training_step(self, batch, _):
        return self._loss(batch, "train")

    def validation_step(self, batch, _):
        self.log("val_loss", self._loss(batch, "val"))

    def test_step(self, batch, _):
        self.log("test_loss", self._loss(batch, "test"))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def run(dm, multilabel: bool) -> TinyModel:
    model = TinyModel(dm.num_classes, multilabel)
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(model, datamodule=dm)
    trainer.test(model, datamodule=dm, verbose=False)
    return model


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_urbansound8k_with_disk_cache_under_trainer(us8k, tmp_path):
    dm = UrbanSound8KDataModule(str(us8k.root), fold=3, sample_rate=8000, clip_seconds=1.0,
                                cache="disk", cache_dir=str(tmp_path), batch_size=4)  # fmt: skip
    model = run(dm, multilabel=False)
    assert sum(s[0] for s in model.seen["train"]) == 16
    assert all(s[1:] == (1, 8000) for split in model.seen.values() for s in split)
    assert sum(s[0] for s in model.seen["test"]) == 2
    assert any(tmp_path.iterdir())  # Lightning's prepare_data built the cache


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_magnatagatune_segments_under_trainer(mtat, tmp_path):
    dm = MagnaTagATuneDataModule(str(mtat.root), cache_dir=str(tmp_path), sample_rate=8000,
                                 segment_samples=2000, eval_segments=3, batch_size=4)  # fmt: skip
    model = run(dm, multilabel=True)
    assert {s[1:] for s in model.seen["train"]} == {(1, 2000)}
    assert {s[1:] for s in model.seen["val"] + model.seen["test"]} == {(3, 1, 2000)}
    assert sum(s[0] for s in model.seen["test"]) == 6

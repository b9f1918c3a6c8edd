"""WaveformClassifier: losses, 4-D evaluation batches, metrics, optimisers, warm-up."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from wavelet_networks.training import WaveformClassifier

TINY = {"channels": [4, 4, 4]}


def _loader(n: int = 16, length: int = 128, multilabel: bool = False, segments: int = 0):
    g = torch.Generator().manual_seed(0)
    shape = (n, segments, 1, length) if segments else (n, 1, length)
    x = torch.randn(*shape, generator=g)
    y = (torch.rand(n, 5, generator=g) > 0.5).float() if multilabel else torch.arange(n) % 5
    return DataLoader(TensorDataset(x, y), batch_size=8)


def _trainer(**kw) -> L.Trainer:
    return L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, **kw)


def test_four_d_batches_average_segment_logits() -> None:
    m = WaveformClassifier("small-cnn", TINY, num_classes=5).eval()
    x = torch.randn(3, 4, 1, 128)
    with torch.no_grad():
        got = m(x)
        want = torch.stack([m(x[:, s]) for s in range(4)]).mean(0)
    assert got.shape == (3, 5)
    assert torch.allclose(got, want, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(batch, channels, time\)"):
        m(torch.randn(128))


def test_multiclass_test_metrics_match_a_direct_computation() -> None:
    m = WaveformClassifier("small-cnn", TINY, num_classes=5)
    loader = _loader(segments=3)
    _trainer().test(m, loader, verbose=False)
    m.eval()
    with torch.no_grad():
        pred = torch.cat([m(x).argmax(-1) for x, _ in loader])
    y = torch.cat([y for _, y in loader])
    r = m.test_results
    assert r["test/acc"] == pytest.approx((pred == y).float().mean().item())
    cm = torch.tensor(r["test/confusion_matrix"])
    assert cm.sum() == 16 and torch.trace(cm) == (pred == y).sum()
    assert len(r["test/acc_per_class"]) == 5


def test_multilabel_uses_bce_and_reports_auc() -> None:
    m = WaveformClassifier("small-cnn", TINY, num_classes=5, task="multilabel")
    x, y = next(iter(_loader(multilabel=True)))
    logits = m(x)
    want = torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
    assert torch.allclose(m._loss(logits, y), want)
    _trainer().test(m, _loader(multilabel=True, segments=2), verbose=False)
    assert set(m.test_results) == {"test/roc_auc", "test/pr_auc"}
    assert 0.0 <= m.test_results["test/roc_auc"] <= 1.0
    probs = m.probabilities(logits)
    assert (probs >= 0).all() and (probs <= 1).all() and not torch.allclose(probs.sum(-1),
                                                                           torch.ones(8))


@pytest.mark.parametrize("optimizer, cls", [("adam", torch.optim.Adam), ("sgd", torch.optim.SGD),
                                            ("adadelta", torch.optim.Adadelta),
                                            ("adamw", torch.optim.AdamW)])
def test_optimizers(optimizer: str, cls: type) -> None:
    m = WaveformClassifier("small-cnn", TINY, optimizer=optimizer, lr=0.5, weight_decay=1e-4)
    opt = m.configure_optimizers()
    assert isinstance(opt, cls)
    assert opt.param_groups[0]["lr"] == 0.5 and opt.param_groups[0]["weight_decay"] == 1e-4


def test_plateau_scheduler_monitors_validation_loss() -> None:
    m = WaveformClassifier("small-cnn", TINY, scheduler="plateau", plateau_factor=0.5,
                           plateau_patience=3)
    cfg = m.configure_optimizers()
    sched = cfg["lr_scheduler"]["scheduler"]
    assert isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert cfg["lr_scheduler"]["monitor"] == "val/loss"
    assert sched.factor == 0.5 and sched.patience == 3


class _RecordLR(L.Callback):
    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_linear_warmup_ramps_the_learning_rate() -> None:
    m = WaveformClassifier("small-cnn", TINY, num_classes=5, lr=0.1, optimizer="sgd",
                           warmup_steps=4)
    rec = _RecordLR()
    _trainer(max_steps=6, callbacks=[rec], limit_val_batches=0).fit(m, _loader(n=48))
    assert rec.lrs == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1])


def test_wavelet_loss_weight_adds_the_regulariser() -> None:
    from wavelet_networks import wavelet_loss

    torch.manual_seed(0)
    m = WaveformClassifier("w-small-cnn", {"channels": [4, 4, 4], "num_scales": 3},
                           num_classes=5, wavelet_loss_weight=2.0)
    x, y = next(iter(_loader()))
    m.train()
    torch.manual_seed(1)
    with_reg = m.training_step((x, y), 0)
    m.hparams.wavelet_loss_weight = 0.0
    torch.manual_seed(1)
    without = m.training_step((x, y), 0)
    reg = wavelet_loss(m.model)
    assert reg > 0
    assert with_reg.item() == pytest.approx(without.item() + 2.0 * reg.item(), rel=1e-5)


def test_invalid_arguments_raise() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        WaveformClassifier("m99")
    with pytest.raises(ValueError, match="task"):
        WaveformClassifier("small-cnn", task="regression")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lr"):
        WaveformClassifier("small-cnn", lr=0.0)

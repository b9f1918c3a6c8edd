"""Conventions every data module shares: registry, loaders, typed constructor args."""

from __future__ import annotations

import jsonargparse
import pytest
import torch

from wavelet_networks.data import DATASETS
from wavelet_networks.data.bearing import CWRUDataModule
from wavelet_networks.data.folder import FolderDataModule
from wavelet_networks.data.magnatagatune import MagnaTagATuneDataModule
from wavelet_networks.data.urbansound8k import UrbanSound8KDataModule

MODULES = {
    "urbansound8k": (UrbanSound8KDataModule, "us8k", {"sample_rate": 8000, "fold": 3}),
    "magnatagatune": (MagnaTagATuneDataModule, "mtat",
                      {"sample_rate": 8000, "segment_samples": 2000, "eval_segments": 2}),
    "cwru": (CWRUDataModule, "cwru", {"window": 1000}),
    "folder": (FolderDataModule, "folder", {"sample_rate": 8000, "clip_seconds": 0.5}),
}  # fmt: skip


def test_registered():
    for name, (cls, _, _) in MODULES.items():
        assert DATASETS[name] is cls and cls.name == name
        assert cls.description and cls.expected_layout
    assert DATASETS["magnatagatune"].task == "multilabel"
    assert DATASETS["urbansound8k"].task == "multiclass"


@pytest.mark.parametrize("name", list(MODULES))
def test_worker_loaders(request, name):
    cls, fixture, kw = MODULES[name]
    fx = request.getfixturevalue(fixture)
    dm = cls(str(fx.root), batch_size=2, num_workers=2, seed=3, **kw)
    dm.setup()
    loader = dm.test_dataloader()
    assert loader.num_workers == 2 and loader.persistent_workers
    assert loader.pin_memory == torch.cuda.is_available()
    x, y = next(iter(loader))
    assert x.dtype == torch.float32 and x.shape[-1] == dm.input_length
    assert x.shape[-2] == dm.in_channels and len(y) == 2
    # the shuffled order depends only on the seed, not on the number of workers
    again = cls(str(fx.root), batch_size=2, num_workers=0, seed=3, **kw)
    again.setup()
    order = torch.cat([y for _, y in dm.train_dataloader()])
    assert torch.equal(order, torch.cat([y for _, y in again.train_dataloader()]))


@pytest.mark.parametrize("name", list(MODULES))
def test_constructor_is_configurable_from_yaml(name, tmp_path):
    """LightningCLI builds data modules through jsonargparse from their typed signatures."""
    cls = MODULES[name][0]
    parser = jsonargparse.ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(cls, "data")
    cfg = parser.parse_string(f"data:\n  root: {tmp_path}\n  batch_size: 5\n  num_workers: 0\n")
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
    dm = instantiate(cfg).data
    assert isinstance(dm, cls) and dm.batch_size == 5 and dm.root == tmp_path
    assert dm.hparams["batch_size"] == 5


@pytest.mark.parametrize(("n", "dropped"), [(9, True), (10, False), (1, False)])
def test_training_loader_never_ends_with_a_batch_of_one(n, dropped):
    from wavelet_networks.data._common import make_loader

    data = [(torch.zeros(1, 4), torch.tensor(0))] * n
    train = make_loader(data, 4, shuffle=True, num_workers=0, seed=0)
    sizes = [len(y) for _, y in train]
    assert (sizes[-1] == 1) == (n == 1) and sum(sizes) == n - dropped
    evaluation = make_loader(data, 4, shuffle=False, num_workers=0, seed=0)
    assert sum(len(y) for _, y in evaluation) == n


def test_main_process_collate_matches_default_collate():
    from torch.utils.data import default_collate

    from wavelet_networks.data._common import collate_drop_none

    batch = [(torch.randn(2, 5), torch.tensor(i)) for i in range(3)]
    for a, b in zip(collate_drop_none([None, *batch]), default_collate(batch), strict=True):
        assert torch.equal(a, b) and a.dtype == b.dtype
    assert collate_drop_none([None, None]) is None

"""Data modules for the embedded default and the paper's data sets (needs the ``train`` extra)."""

from wavelet_networks.data.base import DATASETS, WaveformDataModule, register_dataset

__all__ = ["DATASETS", "WaveformDataModule", "register_dataset"]

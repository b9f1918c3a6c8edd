"""Data modules for the embedded default and the paper's data sets (needs the ``train`` extra).

Importing this package imports every data set module, which registers it in
:data:`DATASETS` under its name ("urbansound8k", "magnatagatune", ...).
"""

from wavelet_networks.data import (
    acsf1,
    arrays,
    bearing,
    folder,
    magnatagatune,
    ucr,
    urbansound8k,
)
from wavelet_networks.data.audio import AudioDecodeError
from wavelet_networks.data.base import DATASETS, WaveformDataModule, register_dataset

__all__ = [
    "DATASETS",
    "AudioDecodeError",
    "WaveformDataModule",
    "acsf1",
    "arrays",
    "bearing",
    "folder",
    "magnatagatune",
    "register_dataset",
    "ucr",
    "urbansound8k",
]

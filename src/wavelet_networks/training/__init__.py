"""Training and evaluation on PyTorch Lightning (needs the ``train`` extra)."""

from wavelet_networks.training.module import WaveformClassifier

__all__ = ["WaveformClassifier"]

"""wavelet-networks: scale-translation equivariant neural networks for raw time series.

>>> import wavelet_networks as wn
>>> lift = wn.nn.LiftingConv1d(1, 8, kernel_size=9, num_scales=4)
"""

from wavelet_networks import functional, nn, settings, splines, testing
from wavelet_networks.grid import ScaleGrid
from wavelet_networks.regularizers import wavelet_loss
from wavelet_networks.settings import configure, reference_mode

__version__ = "0.1.0"

__all__ = [
    "ScaleGrid",
    "WaveletNetworkClassifier",
    "__version__",
    "configure",
    "functional",
    "models",
    "nn",
    "reference_mode",
    "settings",
    "splines",
    "testing",
    "wavelet_loss",
]


def __getattr__(name: str):
    # The model zoo and the estimator (scikit-learn, Lightning) are imported on first use,
    # so `import wavelet_networks` stays light.
    import importlib

    if name == "models":
        return importlib.import_module("wavelet_networks.models")
    if name == "WaveletNetworkClassifier":
        return importlib.import_module("wavelet_networks.estimator").WaveletNetworkClassifier
    raise AttributeError(f"module 'wavelet_networks' has no attribute {name!r}")

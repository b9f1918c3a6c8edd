"""The model zoo: the paper's baselines and their wavelet-network twins.

Build a model by name with :func:`build`; list names with :func:`available`.
"""

# Importing the model modules registers their models.
from wavelet_networks.models import abdoli, mnets, robust, samplecnn, small  # noqa: F401
from wavelet_networks.models.registry import ModelCard, available, build, card, register

__all__ = ["ModelCard", "available", "build", "card", "register"]

"""The model zoo: the paper's baselines and their wavelet-network twins.

Build a model by name with :func:`build`; list names with :func:`available`.
Checkpoints of the paper's own code load with ``build(name, ..., weights=path)``
or convert once with :func:`convert_paper_state_dict` /
:func:`convert_paper_checkpoints` (see :mod:`wavelet_networks.models.paper`).
"""

# Importing the model modules registers their models.
from wavelet_networks.models import abdoli, mnets, robust, samplecnn, small  # noqa: F401
from wavelet_networks.models.paper import (
    PaperLayoutError,
    convert_paper_checkpoints,
    convert_paper_state_dict,
    paper_keys,
)
from wavelet_networks.models.registry import (
    ModelCard,
    available,
    build,
    card,
    load_weights,
    read_state_dict,
    register,
)

__all__ = [
    "ModelCard",
    "PaperLayoutError",
    "available",
    "build",
    "card",
    "convert_paper_checkpoints",
    "convert_paper_state_dict",
    "load_weights",
    "paper_keys",
    "read_state_dict",
    "register",
]

"""The public operations: each is its reference (signature, docstring) behind the dispatcher.

Calling one checks the arguments, then runs the first fast implementation
that applies (:mod:`wavelet_networks.functional.fast` registers them, in
order), else the reference (:mod:`wavelet_networks.functional.reference`).
``operation.implementations`` lists them; ``operation.chosen(*args)`` names
the one a call would run.
"""

from __future__ import annotations

from wavelet_networks.functional import reference as ref
from wavelet_networks.functional._dispatch import Operation

__all__ = [
    "OPERATIONS",
    "antialiased_activation",
    "batch_norm_relu_pool",
    "global_pool",
    "group_conv1d",
    "lifting_conv1d",
    "lifting_conv_max_pool1d",
    "lifting_stem",
    "scale_pool",
    "scale_proportional_max_pool",
    "scale_readout",
    "time_avg_pool",
    "time_max_pool",
]

lifting_conv1d = Operation(ref.lifting_conv1d, ref.check_lifting)
group_conv1d = Operation(ref.group_conv1d, ref.check_group_conv)
time_max_pool = Operation(ref.time_max_pool, ref.check_time_pool)
time_avg_pool = Operation(ref.time_avg_pool, ref.check_time_pool)
scale_pool = Operation(ref.scale_pool)
global_pool = Operation(ref.global_pool)
lifting_conv_max_pool1d = Operation(ref.lifting_conv_max_pool1d, ref.check_lifting_pool)
batch_norm_relu_pool = Operation(ref.batch_norm_relu_pool, ref.check_norm_pool)
lifting_stem = Operation(ref.lifting_stem, ref.check_stem)
antialiased_activation = Operation(ref.antialiased_activation, ref.check_antialiased_activation)
scale_proportional_max_pool = Operation(ref.scale_proportional_max_pool,
                                        ref.check_scale_proportional_pool)
scale_readout = Operation(ref.scale_readout)

OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        lifting_conv1d,
        group_conv1d,
        time_max_pool,
        time_avg_pool,
        scale_pool,
        global_pool,
        lifting_conv_max_pool1d,
        batch_norm_relu_pool,
        lifting_stem,
        antialiased_activation,
        scale_proportional_max_pool,
        scale_readout,
    )
}
"""Every operation by name."""

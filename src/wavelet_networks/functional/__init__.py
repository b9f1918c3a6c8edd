r"""Functional scale-translation convolutions, pooling, anti-aliased nonlinearities.

Conventions (see ``DESIGN.md``): time series are ``(batch, channels, time)``,
functions on the scale-translation group are ``(batch, channels, scales, time)``;
scale ``j`` is ``s_j = base**j``. A kernel of ``K`` taps is the spline

.. math:: \psi(x) = \sum_{k} w_k B^n(x - k), \quad k = -\lfloor K/2 \rfloor, \dots, K - 1 - \lfloor K/2 \rfloor

and at scale ``s`` it is :math:`\psi_s(x) = \frac1s \psi(x/s)`. For an integer
``s`` the sampled kernel factorises, :math:`\psi_s = h_s * (w \uparrow s)`:
smoothing with :math:`h_s[m] = B^n(m/s)/s` followed by a convolution with the
weights dilated by ``s``. A kernel of one tap (``K = 1``) is pointwise
(:math:`\psi = w\,\delta`) at every scale: a single spline would be a blur whose
gain changes with scale.
"""

from wavelet_networks.functional.conv import (
    METHODS,
    PADDINGS,
    SCALE_BOUNDARIES,
    group_conv1d,
    lifting_conv1d,
)
from wavelet_networks.functional.kernels import kernel_extent, spline_kernel
from wavelet_networks.functional.nonlinear import antialiased_activation, antialiased_relu
from wavelet_networks.functional.norm_pool import batch_norm_relu_pool
from wavelet_networks.functional.pooled import lifting_conv_max_pool1d
from wavelet_networks.functional.pooling import (
    global_pool,
    scale_pool,
    time_avg_pool,
    time_max_pool,
)
from wavelet_networks.functional.scale_pooling import scale_proportional_max_pool, scale_readout
from wavelet_networks.functional.stem import lifting_stem

__all__ = [
    "METHODS",
    "PADDINGS",
    "SCALE_BOUNDARIES",
    "antialiased_activation",
    "antialiased_relu",
    "batch_norm_relu_pool",
    "global_pool",
    "group_conv1d",
    "kernel_extent",
    "lifting_conv1d",
    "lifting_conv_max_pool1d",
    "lifting_stem",
    "scale_pool",
    "scale_proportional_max_pool",
    "scale_readout",
    "spline_kernel",
    "time_avg_pool",
    "time_max_pool",
]

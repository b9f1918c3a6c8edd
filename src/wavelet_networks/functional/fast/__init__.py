"""The fast paths: faster implementations of the reference operations, in the order they are tried.

Each computes what its operation's reference
(:mod:`~wavelet_networks.functional.reference`) computes, up to float
rounding (``tests/core/test_implementations.py``, values and gradients), and
runs where its ``applies`` says so; the first that applies wins, the
reference runs where none does (or in :func:`wavelet_networks.reference_mode`).
The order, per operation:

- ``lifting_conv1d``: ``fft`` (:mod:`.fft`: overlap-save FFTs, where their cost
  model says they are cheaper), ``factorized`` (:mod:`.factorized`: the "a
  trous" smoothing cascade of :mod:`.cascade`, then dilated convolutions).
- ``group_conv1d``: ``itemwise`` (:mod:`.itemwise`: the channel mixing
  before the smoothing, one batch item per thread), ``threads``
  (:mod:`._threads`: batch items on threads, each through the
  implementations after it), ``pointwise`` (one time tap), ``fft``,
  ``factorized``.
- ``time_max_pool``: ``compiled`` (:mod:`.pooling`).
- ``lifting_conv_max_pool1d``: ``fused`` (:mod:`.pooled`: Toeplitz products
  pooled while in cache), ``unfused`` (the dispatched lifting, then the
  dispatched pool).
- ``lifting_stem``: ``fused`` (:mod:`.stem`), ``unfused``.
- ``batch_norm_relu_pool``: ``fused`` (:mod:`.norm_pool`), ``unfused``.
- ``antialiased_activation``: ``polyphase`` (:mod:`.polyphase`).
- ``scale_proportional_max_pool``: ``doubling`` (:mod:`.proportional`: block
  maxima, then pairwise maxima over 1, 2, 4, ... blocks).

Inside them: compiled loops (:mod:`._native`), products chosen by timing
(:mod:`._autotune`, :mod:`._matmul`), batch items on worker threads
(:mod:`._threads`); every switch and threshold is a field of
:class:`wavelet_networks.settings.Settings`.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from wavelet_networks.functional import operations as ops
from wavelet_networks.functional.fast import (
    _threads,
    factorized,
    fft,
    itemwise,
    norm_pool,
    polyphase,
    pooled,
    pooling,
    proportional,
    stem,
)
from wavelet_networks.grid import ScaleGrid

__all__: list[str] = []


def _always(*args: object, **kwargs: object) -> bool:
    return True


# --------------------------------------------------------------------------- compositions
def _group_threads_applies(x: Tensor, weight: Tensor, base: float = 2.0,
                           bias: Tensor | None = None, *, method: str = "auto",
                           **options: object) -> bool:  # fmt: skip
    """Batch items large enough to pay for threads (:func:`._threads.parallel`), not "direct"."""
    return method != "direct" and _threads.parallel(x)


def _group_threads(x: Tensor, weight: Tensor, base: float = 2.0, bias: Tensor | None = None,
                   **options: object) -> Tensor:  # fmt: skip
    """One batch item per thread, each through the implementations after this one."""

    def conv(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return ops.group_conv1d.run_after("threads", x, weight, base, bias, **options)

    return _threads.batch_parallel(conv, x, weight, bias)


def _lifting_pool_unfused(x: Tensor, weight: Tensor, scales: ScaleGrid, pool_size: int,
                          bias: Tensor | None = None, *, spline_order: int = 2,
                          padding: str = "same") -> Tensor:  # fmt: skip
    """The lifting convolution, then the max pool, each through its own implementations."""
    y = ops.lifting_conv1d(x, weight, scales, bias, spline_order=spline_order, padding=padding)
    return ops.time_max_pool(y, pool_size) if pool_size > 1 else y


def _stem_unfused(x: Tensor, weight: Tensor, scales: ScaleGrid, pool_sizes: tuple[int, int],
                  running_mean: Tensor | None, running_var: Tensor | None,
                  bn_weight: Tensor | None = None, bn_bias: Tensor | None = None,
                  training: bool = False, momentum: float = 0.1, eps: float = 1e-5, *,
                  spline_order: int = 2, padding: str = "same") -> Tensor:  # fmt: skip
    """The stem's operations one after the other, each through its own implementations."""
    p1, p2 = pool_sizes
    y = ops.lifting_conv_max_pool1d(x, weight, scales, p1, spline_order=spline_order,
                                    padding=padding)  # fmt: skip
    use_batch = training or running_mean is None
    y = F.batch_norm(y, running_mean, running_var, bn_weight, bn_bias, use_batch, momentum, eps)
    return ops.time_max_pool(F.relu(y), p2) if p2 > 1 else F.relu(y)


def _norm_pool_unfused(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                       weight: Tensor | None, bias: Tensor | None, training: bool,
                       momentum: float, eps: float, pool_size: int) -> Tensor:  # fmt: skip
    """Batch norm, ReLU, then the max pool through its own implementations."""
    use_batch = training or running_mean is None
    y = F.batch_norm(x, running_mean, running_var, weight, bias, use_batch, momentum, eps)
    return ops.time_max_pool(F.relu(y), pool_size)


# --------------------------------------------------------------------------- the order
ops.lifting_conv1d.register("fft", fft.lifting_applies)(fft.lifting_conv1d)
ops.lifting_conv1d.register("factorized", factorized.lifting_applies)(factorized.lifting_conv1d)

ops.group_conv1d.register("itemwise", itemwise.applies)(itemwise.group_conv1d)
ops.group_conv1d.register("threads", _group_threads_applies)(_group_threads)
ops.group_conv1d.register("pointwise", factorized.pointwise_applies)(factorized.group_pointwise)
ops.group_conv1d.register("fft", fft.group_applies)(fft.group_conv1d)
ops.group_conv1d.register("factorized", factorized.group_applies)(factorized.group_conv1d)

ops.time_max_pool.register("compiled", pooling.applies)(pooling.time_max_pool)

ops.lifting_conv_max_pool1d.register("fused", pooled.applies)(pooled.lifting_conv_max_pool1d)
ops.lifting_conv_max_pool1d.register("unfused", _always)(_lifting_pool_unfused)

ops.lifting_stem.register("fused", stem.applies)(stem.lifting_stem)
ops.lifting_stem.register("unfused", _always)(_stem_unfused)

ops.batch_norm_relu_pool.register("fused", norm_pool.applies)(norm_pool.batch_norm_relu_pool)
ops.batch_norm_relu_pool.register("unfused", _always)(_norm_pool_unfused)

ops.antialiased_activation.register("polyphase", polyphase.applies)(polyphase.antialiased_activation)

ops.scale_proportional_max_pool.register("doubling", proportional.applies)(
    proportional.scale_proportional_max_pool)

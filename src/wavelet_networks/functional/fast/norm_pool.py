r"""Batch norm, ReLU and max pool over time, fused: the last three layers of a W-M-net stage.

Batch norm is an affine map per channel, :math:`\mathrm{bn}(x) = \gamma_c \hat x +
\beta_c`, and ReLU is monotone, so both commute with a max over time when
:math:`\gamma_c \ge 0` (with a min when :math:`\gamma_c < 0`; see
:mod:`~wavelet_networks.functional.fast.stem`, whose first pool and batch norm follow
the same algebra):

.. math:: \max_a \mathrm{relu}(\mathrm{bn}(x_{Pt+a})) =
    \mathrm{relu}\bigl(\mathrm{bn}(\operatorname{sign}(\gamma_c)
    \max_a \operatorname{sign}(\gamma_c)\, x_{Pt+a})\bigr).

So the input is pooled first (one pass, offsets of one byte) and the affine map
and ReLU act on the pooled values only. The gradient of the input is

.. math:: \frac{\partial L}{\partial x} = \frac{\gamma_c}{\sigma_c}\Bigl(G -
    \overline{G} - \hat x\, \overline{G \hat x}\Bigr),

``G`` the gradient at the batch norm's output, non-zero only where the pool took
its maximum (and the ReLU passed it), so that the means are sums over the pooled
values and the gradient is an affine function of ``x`` per channel plus a sparse
term: one pass that reads ``x`` and writes the gradient. Unfused, the three
layers pass over the full-size tensor about six times forward and nine times
backward.
"""

from __future__ import annotations

import torch
from torch import Tensor

from wavelet_networks import settings
from wavelet_networks.functional.fast import _native
from wavelet_networks.functional.fast._batch_norm import (
    affine_relu,
    gamma_sign,
    pooled_gradient,
    unbiased,
    update_running_stats,
)
from wavelet_networks.functional.fast._threads import split_batch

__all__ = ["applies", "batch_norm_relu_pool"]


def applies(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
            weight: Tensor | None, bias: Tensor | None, training: bool, momentum: float,
            eps: float, pool_size: int) -> bool:  # fmt: skip
    """Where the compiled loops apply, batch items hold at least ``pool_min_item`` values
    (:mod:`wavelet_networks.settings`) and the pool is of 2 to 255 non-overlapping windows."""
    given = (running_mean, running_var, weight, bias)
    return (
        1 < pool_size < 256
        and pool_size <= x.shape[-1]
        and x.stride(-1) == 1
        and x[0].numel() >= settings.current().pool_min_item
        and all(t is None or t.dtype == x.dtype for t in given)
        and _native.available(x.dtype, x.device)
    )


def batch_norm_relu_pool(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                         weight: Tensor | None, bias: Tensor | None, training: bool,
                         momentum: float, eps: float, pool_size: int) -> Tensor:  # fmt: skip
    """:func:`~wavelet_networks.functional.reference.batch_norm_relu_pool`, fused: one pass
    over ``x`` forward (the pool first, then the affine map on the pooled values) and one
    backward."""
    use_batch = training or running_mean is None
    y, mean, unbiased_var = _BatchNormReLUPool.apply(
        x, weight, bias, None if use_batch else running_mean,
        None if use_batch else running_var, eps, pool_size,
    )  # fmt: skip
    update_running_stats(training, running_mean, running_var, mean, unbiased_var, momentum)
    return y


class _BatchNormReLUPool(torch.autograd.Function):
    """See :func:`batch_norm_relu_pool`; returns the output and the batch's mean and
    unbiased variance (when ``mean`` and ``var`` are ``None``; else the statistics given)."""

    @staticmethod
    def forward(ctx, x, gamma, beta, mean, var, eps, pool):  # type: ignore[override]
        batch, c, scales, time = x.shape
        use_batch = mean is None
        if use_batch:  # two passes: the mean, then the deviations from it inside the pool's
            mean = x.sum(dim=(0, 2, 3)) / (x.numel() // c)
        # gamma < 0: the pool takes the minimum; gamma = 0: the batch norm's output is
        # flat, and max_pool takes every window's first entry
        sign, flat = gamma_sign(gamma, x.dtype), None
        if gamma is not None and bool((gamma == 0).any()):
            flat = (gamma == 0).to(torch.uint8)
        pooled = x.new_empty(batch, c, scales, time // pool)
        off = torch.empty(pooled.shape, dtype=torch.uint8)
        mean_c = mean.contiguous()

        def work(items: list[int]) -> Tensor:
            sq = torch.zeros(c, dtype=torch.float64)
            for b in items:
                squares = (mean_c, sq) if use_batch else None
                _native.time_max(x[b], pool, pooled[b], off[b], sign, flat, squares)
            return sq

        squares = sum(split_batch(batch, work))
        if use_batch:
            var = (squares / (x.numel() // c)).to(x.dtype)
        if sign is not None:
            pooled *= sign[:, None, None]
        y, invstd = affine_relu(pooled, mean, var, gamma, beta, eps)
        ctx.save_for_backward(x, gamma, pooled, y, off, mean, invstd)
        ctx.meta = (use_batch, pool)
        if use_batch:
            var = unbiased(var, x.numel() // c)
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    def backward(ctx, grad, _gmean, _gvar):  # type: ignore[override]
        x, gamma, pooled, y, off, mean, invstd = ctx.saved_tensors
        use_batch, pool = ctx.meta
        c = x.shape[1]
        # at the batch norm's output where the pool took it (and the ReLU passed it)
        g = torch.ops.aten.threshold_backward(grad, y, 0)
        dgamma, dbeta, coef, slope, offset = pooled_gradient(
            g, pooled, mean, invstd, gamma, x.numel() // c, use_batch
        )
        dx = None
        if ctx.needs_input_grad[0]:
            if use_batch:
                slope, offset = slope.contiguous(), offset.contiguous()
            sparse = (g * coef[:, None, None]).contiguous()
            dx = x.new_empty(x.shape)

            def work(items: list[int]) -> None:
                for b in items:
                    affine = (x[b], slope, offset) if use_batch else None
                    _native.time_unmax(sparse[b], off[b], pool, dx[b], affine)

            split_batch(x.shape[0], work)
        dg = dgamma if gamma is not None and ctx.needs_input_grad[1] else None
        db = dbeta if ctx.needs_input_grad[2] else None
        return dx, dg, db, None, None, None, None

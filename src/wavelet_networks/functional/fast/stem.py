r"""The paper's stem fused: lifting, max pool, batch norm, ReLU, max pool.

W-M3 .. W-M34-res begin with ``L(9, 79, C)``, ``P(4)``, ``BN``, ``ReLU``,
``P(4)``. Unfused, the batch norm, the ReLU and the second pool each pass over
the largest tensor of the network twice (forward and backward; W-M11 at batch
8: 324 MB), which costs about as much as the lifting's own matrix products.

Batch norm is an affine map per channel, :math:`\mathrm{bn}(m) = \gamma_c
\hat m + \beta_c` with :math:`\hat m = (m - \mu_c)/\sigma_c`, and ReLU is
monotone, so both commute with a max over time when :math:`\gamma_c \ge 0`
(with a min when :math:`\gamma_c < 0`):

.. math:: \max_a \mathrm{relu}(\mathrm{bn}(m_{Pt + a})) =
    \mathrm{relu}\bigl(\mathrm{bn}(\max_a \operatorname{sign}(\gamma_c)\, m_{Pt + a}
    \cdot \operatorname{sign}(\gamma_c))\bigr).

The statistics :math:`\mu_c, \sigma_c` still come from every pooled lifting
value ``m``; they are gathered row by row (one batch item and scale at a time)
while the row is still in cache, as are the second pool's maxima. In the
backward pass the gradient of the pooled lifting is

.. math:: \frac{\partial L}{\partial m} = \frac{\gamma_c}{\sigma_c}\Bigl(G -
    \overline{G} - \hat m\, \overline{G \hat m}\Bigr),

``G`` the gradient at the batch norm's output (non-zero only where the second
pool took its maximum and the ReLU passed it) and the bars means over batch,
scales and time: a sparse term plus an affine function of ``m`` per channel,
formed row by row inside the lifting's backward pass (see
:mod:`~wavelet_networks.functional.fast.pooled`).

With the compiled loops (:mod:`~wavelet_networks.functional.fast._native`) this
work happens inside the lifting's pooling loop, a tile of pooled values at a
time while it is in cache: the statistics (each tile summed around a shift
near the mean, the tiles in float64 and the products merged as Chan et al.),
the second pool, and backward the gradient at the pooled values; the pooled
lifting is kept channels last, the order its values come in. Without them
the same runs as torch operations, one row (batch item and scale) at a time:
``benchmarks/ab_fast_paths.py --only stem-native`` measures both.
"""

from __future__ import annotations

import torch
from torch import Tensor

from wavelet_networks.functional.fast import _native, pooled
from wavelet_networks.functional.fast._batch_norm import (
    affine_relu,
    gamma_sign,
    pooled_gradient,
    unbiased,
    update_running_stats,
)
from wavelet_networks.functional.fast.pooled import (
    Hooks,
    offsets_shape,
    pool_backward,
    pool_forward,
    tournament,
)
from wavelet_networks.grid import ScaleGrid

__all__ = ["applies", "lifting_stem"]


def applies(x: Tensor, weight: Tensor, scales: ScaleGrid, pool_sizes: tuple[int, int],
            running_mean: Tensor | None, running_var: Tensor | None,
            bn_weight: Tensor | None = None, bn_bias: Tensor | None = None,
            training: bool = False, momentum: float = 0.1, eps: float = 1e-5, *,
            spline_order: int = 2, padding: str = "same") -> bool:  # fmt: skip
    """Where the fused lifting and pool applies
    (:func:`~wavelet_networks.functional.fast.pooled.applies`) and the second pool is
    below 256 (its offsets are one byte)."""
    p1, p2 = pool_sizes
    return (
        1 < p1 < 256
        and p2 < 256
        and scales.is_integer
        and weight.shape[-1] > 1
        and not x.requires_grad
        and x.device.type == "cpu"
    )


def lifting_stem(x: Tensor, weight: Tensor, scales: ScaleGrid, pool_sizes: tuple[int, int],
                 running_mean: Tensor | None, running_var: Tensor | None,
                 bn_weight: Tensor | None = None, bn_bias: Tensor | None = None,
                 training: bool = False, momentum: float = 0.1, eps: float = 1e-5, *,
                 spline_order: int = 2, padding: str = "same") -> Tensor:  # fmt: skip
    """:func:`~wavelet_networks.functional.reference.lifting_stem`, fused: the pooled lifting
    is made once and never passed over again (values, gradients and running statistics
    those of the reference up to float rounding)."""
    use_batch = training or running_mean is None
    p1, p2 = pool_sizes
    y, mean, unbiased_var = _LiftingStem.apply(
        x, weight, bn_weight, bn_bias, None if use_batch else running_mean,
        None if use_batch else running_var, eps, round(scales.base), scales.num_scales,
        spline_order, padding, p1, p2,
    )  # fmt: skip
    update_running_stats(training, running_mean, running_var, mean, unbiased_var, momentum)
    return y


class _LiftingStem(torch.autograd.Function):
    """Fused stem; see :func:`lifting_stem` (gradients for the weight and the affine parameters).

    Returns the stem's output, and the batch's mean and unbiased variance
    (when ``mean`` and ``var`` are ``None``; else the statistics given).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, x, weight, gamma, beta, mean, var, eps, base, num_scales, order, padding, p1, p2,
    ):  # fmt: skip
        c = weight.shape[0]
        use_batch = mean is None
        sign = gamma_sign(gamma, x.dtype)
        sign = None if sign is None else sign[:, None]
        # gamma = 0 makes a window's values equal: the pool takes the first, as max_pool
        flat = (gamma == 0).nonzero().flatten() if gamma is not None else None
        flat = flat if flat is not None and len(flat) else None
        native = _native.available(x.dtype, x.device)
        rows: dict[str, Tensor] = {}

        def hooks(out: Tensor) -> Hooks:
            batch, n2 = out.shape[0], out.shape[-1] // p2
            rows["m2"] = out.new_empty(batch, c, num_scales, n2)
            # the compiled loops keep the offsets channels last, the order they come in
            shape = (batch, num_scales, n2, c) if native else (batch, c, num_scales, n2)
            off2 = torch.empty(shape, dtype=torch.uint8)
            rows["off2"] = off2.permute(0, 3, 1, 2) if native else off2
            # the compiled loop keeps the sum of squared deviations here, divided below
            rows["var"] = out.new_empty(batch, num_scales, c, dtype=torch.float64)
            rows["mean"] = out.new_empty(batch, num_scales, c, dtype=torch.float64)
            if native:  # statistics and second pool inside the pooling loop, tile by tile
                return Hooks(product=lambda *args: pool_product(out, *args))
            return Hooks(row=lambda b, j: on_row(out[b, :, j], b, j))

        if native:
            sign_c = None if sign is None else sign.flatten().contiguous()
            flat_c = None if flat is None else (gamma == 0).to(torch.uint8)

        def pool_product(out: Tensor, y: Tensor, d: int, m: int, b: int, j: int, tau: int):
            span = m * pooled.BLOCK * d // p1
            stats = (rows["mean"][b, j], rows["var"][b, j]) if use_batch else (None, None)
            second = _native.SecondPool(
                p2, sign_c, flat_c, tau, *stats,
                rows["m2"][b, :, j, tau // p2 : (tau + span) // p2],
                rows["off2"][b, :, j, tau // p2 : (tau + span) // p2],
            )  # fmt: skip
            offset = torch.empty(offsets_shape(d, m, p1, c), dtype=torch.uint8)
            _native.pool(y, d, m, pooled.BLOCK, p1, out[b, :, j, tau : tau + span], offset, second)
            return offset

        def on_row(row: Tensor, b: int, j: int) -> None:
            if use_batch:  # two passes (the mean, then the deviations from it): stable,
                # and faster on these strided rows than torch.var_mean or float64 sums
                # (which copy the row to float64)
                mu = row.mean(dim=1, keepdim=True)
                spread = torch.linalg.vector_norm(row - mu, dim=1)
                rows["mean"][b, j] = mu.squeeze(1)
                rows["var"][b, j] = spread.square_()
            n2 = rows["m2"].shape[-1]
            window = row[:, : n2 * p2]
            if sign is not None:
                window = window * sign
            window = window.reshape(c, n2, p2)
            best, off = tournament([window[:, :, a] for a in range(p2)])
            if flat is not None:
                best[flat], off[flat] = window[flat, :, 0], 0
            rows["m2"][b, :, j] = best
            rows["off2"][b, :, j] = off

        m1, saved = pool_forward(
            x, weight, base, num_scales, order, padding, p1, hooks, align=p2, channels_last=native
        )
        m2, off2 = rows["m2"], rows["off2"]
        if sign is not None:
            m2 *= sign[:, :, None]
        if use_batch:
            # rows have equal counts: the mean of the row means; the mean of the row
            # variances plus the variance of the row means
            means, variances = rows["mean"], rows["var"].div_(m1.shape[-1])
            mean = means.mean(dim=(0, 1))
            var = (variances + (means - mean) ** 2).mean(dim=(0, 1))
            mean, var = mean.to(x.dtype), var.to(x.dtype)
        y, invstd = affine_relu(m2, mean, var, gamma, beta, eps)
        ctx.save_for_backward(weight, gamma, m1, m2, y, mean, invstd, off2)
        ctx.meta = (saved, use_batch, p1, p2, native)
        if use_batch:
            var = unbiased(var, m1.numel() // c)
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    def backward(ctx, grad, _gmean, _gvar):  # type: ignore[override]
        weight, gamma, m1, m2, y, mean, invstd, off2 = ctx.saved_tensors
        saved, use_batch, p1, p2, native = ctx.meta
        c = m1.shape[1]
        n2 = m2.shape[-1]
        # at the batch norm's output, where the second pool took it: ReLU's own
        # backward kernel, one pass (a product with the mask converts it to float first)
        g = torch.ops.aten.threshold_backward(grad, y, 0)
        dgamma, dbeta, coef, slope, offset = pooled_gradient(
            g, m2, mean, invstd, gamma, m1.numel() // c, use_batch
        )
        coef = coef[:, None]
        if use_batch:  # of the term affine in m
            slope, offset = slope[:, None], offset[:, None]

        if native:
            slope_c = slope.flatten().contiguous() if use_batch else None
            offset_c = offset.flatten().contiguous() if use_batch else None
            coef_c = coef.flatten().contiguous()
            g_last = g.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)  # as off2

        def product_grad(d: int, m: int, b: int, j: int, tau: int):
            span = m * pooled.BLOCK * d // p1
            window = slice(tau // p2, (tau + span) // p2)
            row = _native.StemGradient(
                p2, m1[b, :, j, tau : tau + span], slope_c, offset_c, coef_c, off2[b, :, j, window]
            )
            return g_last[b, :, j, window], row

        def grad_row(b: int, j: int, g1: Tensor) -> None:
            if use_batch:
                torch.addcmul(offset, m1[b, :, j], slope, out=g1)
            else:
                g1.zero_()
            window = g1[:, : n2 * p2].view(c, n2, p2)
            sparse = (g[b, :, j] * coef).unsqueeze(-1)
            window.scatter_add_(2, off2[b, :, j].long().unsqueeze(-1), sparse)

        dw = None
        if ctx.needs_input_grad[1]:
            dw = pool_backward(
                weight, saved, p1, grad_row, product_grad if native else None
            )
        dg = dgamma if gamma is not None and ctx.needs_input_grad[2] else None
        db = dbeta if ctx.needs_input_grad[3] else None
        return None, dw, dg, db, *([None] * 9)

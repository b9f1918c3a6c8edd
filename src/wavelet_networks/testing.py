"""Measure the equivariance of any module or model.

Both checks return relative errors ``||a - b|| / ||b||`` between what the
module computes on a transformed input and the correspondingly transformed
output. They run in eval mode (batch-norm statistics of train mode couple all
positions) without gradients, and give the module and each of its submodules
its own mode back afterwards.

Output layouts understood: ``(batch, channels, scales, time)`` group
features, ``(batch, channels, time)`` (scale-pooled) and ``(batch, features)``
(fully pooled invariants, compared directly).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from wavelet_networks.grid import ScaleGrid

__all__ = ["bandlimited_noise", "calibrate_batch_norm", "dilation_error", "resample",
           "translation_error"]


def resample(x: Tensor, factor: float) -> Tensor:
    """Ideal band-limited resampling along the last axis: ``y(t) = x(t / factor)``.

    The signal is treated as periodic (Fourier interpolation); the output has
    ``round(time * factor)`` samples. ``factor > 1`` stretches (dilates) the
    signal, ``factor < 1`` compresses it after removing the frequencies the
    shorter signal cannot hold.

    Shapes: ``(..., time) -> (..., round(time * factor))``.
    """
    if not factor > 0:
        raise ValueError(f"resampling factor must be > 0, got {factor}")
    n_in = x.shape[-1]
    n_out = round(n_in * factor)
    if n_out < 1:
        raise ValueError(f"resampling {n_in} samples by {factor} leaves no sample")
    spec = torch.fft.rfft(x, dim=-1)
    bins_out = n_out // 2 + 1
    if n_in % 2 == 0 and n_out > n_in:
        # The Nyquist bin of the shorter signal stands for two bins of equal weight.
        spec = spec.clone()
        spec[..., -1] = spec[..., -1] / 2
    if bins_out <= spec.shape[-1]:
        spec = spec[..., :bins_out]
    else:
        pad = torch.zeros(
            *spec.shape[:-1], bins_out - spec.shape[-1], dtype=spec.dtype, device=spec.device
        )
        spec = torch.cat([spec, pad], dim=-1)
    return torch.fft.irfft(spec, n=n_out, dim=-1) * (n_out / n_in)


def bandlimited_noise(
    shape: tuple[int, ...],
    cutoff: float = 0.25,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    """Periodic white noise low-passed to ``cutoff`` times the Nyquist frequency.

    Args:
        shape: ``(..., time)``.
        cutoff: fraction of the Nyquist frequency kept, in ``(0, 1]``.
    """
    if not 0 < cutoff <= 1:
        raise ValueError(f"cutoff must be in (0, 1], got {cutoff}")
    noise = torch.randn(*shape, generator=generator, dtype=dtype)
    spec = torch.fft.rfft(noise, dim=-1)
    freqs = torch.linspace(0, 1, spec.shape[-1], dtype=dtype)
    spec = spec * (freqs <= cutoff)
    x = torch.fft.irfft(spec, n=shape[-1], dim=-1)
    return (x / x.std()).to(device)


@torch.no_grad()
def calibrate_batch_norm(
    module: nn.Module,
    shape: tuple[int, int, int],
    batches: int = 2,
    cutoff: float = 0.25,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> nn.Module:
    """Give the batch norms of an untrained ``module`` the running statistics of noise.

    With freshly initialised running statistics (mean 0, variance 1), eval-mode
    batch norm barely normalises, and equivariance measured with random weights
    describes a network unlike a trained one. Every batch norm's statistics are
    reset and set to the average over ``batches`` forward passes of
    :func:`bandlimited_noise` of ``shape`` (``(batch, channels, time)``) in train
    mode; ``module`` is left in eval mode and returned.
    """
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches
    module.train()
    for _ in range(batches):
        module(bandlimited_noise(shape, cutoff, generator, dtype=dtype))
    return module.eval()


@contextmanager
def _evaluating(module: nn.Module) -> Iterator[None]:
    # Every submodule gets its own mode back: module.train(flag) would set them all
    # to the outer module's, e.g. put an eval-mode model inside a train-mode wrapper
    # back into train mode.
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, training in modes:
            m.training = training


def _relative(a: Tensor, b: Tensor) -> float:
    return ((a - b).norm() / b.norm().clamp_min(torch.finfo(b.dtype).tiny)).item()


def _time_ratio(n_in: int, n_out: int, what: str) -> int:
    if n_out < 1 or (n_in % n_out and -(-n_in // n_out) * n_out - n_in >= n_in // n_out):
        raise ValueError(f"cannot relate input time {n_in} to output time {n_out} ({what})")
    return max(1, round(n_in / n_out))


def translation_error(
    module: Callable[[Tensor], Tensor] | nn.Module,
    x: Tensor,
    shift: int = 1,
    margin: int | None = None,
    stride: int | None = None,
) -> float:
    """Relative error of translation equivariance for an integer ``shift``.

    Compares ``module(roll(x, shift))`` with ``roll(module(x), shift / stride)``
    away from the borders, where the circular shift and zero padding disagree.

    Args:
        module: maps ``(batch, channels, time)`` (or group features) to one of the
            layouts of this module's docstring.
        x: input; time is its last axis.
        shift: integer shift in input samples; must be a multiple of the
            module's total time stride.
        margin: output samples left out at each end (default: a quarter of the
            output length).
        stride: the module's total time stride (default: the ratio of input to
            output length, which "valid" padding blurs).
    """
    with _evaluating(module) if isinstance(module, nn.Module) else _nullcontext():
        y = module(x)
        y_shifted = module(torch.roll(x, shift, dims=-1))
    if y.dim() == 2:
        return _relative(y_shifted, y)
    if stride is None:
        stride = _time_ratio(x.shape[-1], y.shape[-1], "translation_error")
    if shift % stride:
        raise ValueError(
            f"shift {shift} is not a multiple of the module's time stride {stride}: "
            f"the output cannot shift by a whole number of samples"
        )
    expected = torch.roll(y, shift // stride, dims=-1)
    margin = y.shape[-1] // 4 if margin is None else margin
    sl = slice(margin + abs(shift // stride), y.shape[-1] - margin)
    return _relative(y_shifted[..., sl], expected[..., sl])


def dilation_error(
    module: Callable[[Tensor], Tensor] | nn.Module,
    x: Tensor,
    factor: int = 2,
    base: float = 2.0,
    margin: int | None = None,
    per_scale: bool = False,
) -> float | list[float]:
    """Relative error of dilation equivariance.

    The input is stretched by ``factor`` with ideal band-limited resampling
    (:func:`resample`); the output should then have its scale axis shifted by
    ``log_base(factor)`` steps and its time axis stretched by ``factor``:
    ``y_d[:, :, j + steps, factor * t] = y[:, :, j, t]``. Use inputs that are
    band-limited well below Nyquist (:func:`bandlimited_noise`) so the
    stretched and original signals carry the same information.

    Args:
        module: the module or model to check.
        x: input ``(..., time)``.
        factor: integer dilation factor (a power of ``base`` for group outputs).
        base: the scale grid's base, to convert ``factor`` into scale steps.
        margin: output samples left out at each end (default: a quarter).
        per_scale: return one error per compared output scale ``j`` (group
            outputs only) instead of one overall error.
    """
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 2:
        raise ValueError(f"factor must be an integer >= 2, got {factor!r}")
    with _evaluating(module) if isinstance(module, nn.Module) else _nullcontext():
        y = module(x)
        y_d = module(resample(x, factor))
    if y.dim() == 2:
        if per_scale:
            raise ValueError("per_scale needs an output with a scale axis")
        return _relative(y_d, y)
    n = y.shape[-1]
    margin = n // 4 if margin is None else margin
    y_d = y_d[..., ::factor][..., margin : n - margin]
    y = y[..., margin : n - margin]
    if y.dim() == 4:
        steps = ScaleGrid(max(2, y.shape[2]), base).steps(factor)
        if steps >= y.shape[2]:
            raise ValueError(f"a dilation by {factor} shifts all {y.shape[2]} scales off the grid")
        y_d = y_d[:, :, steps:]
        y = y[:, :, : y.shape[2] - steps]
        if per_scale:
            return [_relative(y_d[:, :, j], y[:, :, j]) for j in range(y.shape[2])]
    elif per_scale:
        raise ValueError("per_scale needs an output with a scale axis")
    return _relative(y_d, y)


@contextmanager
def _nullcontext() -> Iterator[None]:
    with torch.no_grad():
        yield

"""The contract every layer of :mod:`wavelet_networks.nn` keeps, and the shape arithmetic built on it.

A layer (:class:`EquivariantModule`) knows, without running, what it does to
the shape of its input: the number of scales (:meth:`~EquivariantModule.output_scales`),
the time length (:meth:`~EquivariantModule.output_length`), how many input
samples one output sample reads (:meth:`~EquivariantModule.receptive_extent`)
and its time step (:attr:`~EquivariantModule.time_stride`). It resets its
parameters (:meth:`~EquivariantModule.reset_parameters`), takes ``device``
and ``dtype`` where it has parameters, takes tuning arguments (how, not what,
it computes) by keyword only, and names every constructor argument in its
``repr``. ``tests/core/test_layer_contract.py`` checks all of this, and the
equivariance, for every public layer.

:func:`length_steps` walks any model with these layers, the torch layers of
time (``Conv1d``, ``MaxPool1d``, ``AvgPool1d``) and pointwise torch layers
(activations, normalisations, dropout) in their registration order, which
the zoo keeps equal to the forward order; a leaf module it cannot place
raises a TypeError.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from torch import nn

__all__ = ["EquivariantModule", "Step", "length_steps", "receptive_field"]


class EquivariantModule(nn.Module):
    """Base class of the library's layers: their shape arithmetic and module conventions.

    Subclasses implement :meth:`output_scales`, :meth:`output_length`,
    :meth:`receptive_extent` and :attr:`time_stride` (:class:`Pointwise`
    gives those of a layer that acts on every sample alone), and
    :meth:`reset_parameters` where they have parameters.
    """

    def output_scales(self, num_scales: int | None) -> int | None:
        """Scales of the output for an input with ``num_scales`` (``None``: a time series,
        no scale axis); ``None`` for an output without one. Raises a ValueError where the
        input has too few scales."""
        raise NotImplementedError(f"{type(self).__name__} does not define output_scales")

    def output_length(self, length: int, num_scales: int | None = None) -> int:
        """Time length of the output for an input of ``length`` samples (and ``num_scales``
        scales); less than 1 where the input is too short."""
        raise NotImplementedError(f"{type(self).__name__} does not define output_length")

    def receptive_extent(self, num_scales: int | None = None) -> int | None:
        """Input samples that one output sample depends on (``None``: all of them)."""
        raise NotImplementedError(f"{type(self).__name__} does not define receptive_extent")

    @property
    def time_stride(self) -> int:
        """Input samples per output sample."""
        return 1

    def reset_parameters(self) -> None:
        """Draw the parameters afresh as at construction (nothing to do without parameters)."""


class Pointwise(EquivariantModule):
    """Shape arithmetic of a layer that maps every sample on its own (scales and time kept)."""

    def output_scales(self, num_scales: int | None) -> int | None:
        return num_scales

    def output_length(self, length: int, num_scales: int | None = None) -> int:
        return length

    def receptive_extent(self, num_scales: int | None = None) -> int | None:
        return 1


class Sequence(EquivariantModule):
    """Shape arithmetic of a layer made of children applied in their registration order."""

    def _steps(self, num_scales: int | None) -> tuple[list[Step], int | None]:
        return _walk(self.named_children(), num_scales)

    def output_scales(self, num_scales: int | None) -> int | None:
        return self._steps(num_scales)[1]

    def output_length(self, length: int, num_scales: int | None = None) -> int:
        return _apply(self._steps(num_scales)[0], length)

    def receptive_extent(self, num_scales: int | None = None) -> int | None:
        return receptive_field(self._steps(num_scales)[0])

    @property
    def time_stride(self) -> int:
        return _stride(self.children())

    def reset_parameters(self) -> None:
        for child in self.children():
            reset = getattr(child, "reset_parameters", None)
            if callable(reset):
                reset()


def _stride(children: Iterable[nn.Module]) -> int:
    stride = 1
    for m in children:
        if isinstance(m, EquivariantModule):
            stride *= m.time_stride
        elif isinstance(m, (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d)):
            s = m.stride if m.stride is not None else m.kernel_size
            stride *= _int(s)
        elif not (_is_pointwise(m) or _time_free(m)):
            stride *= _stride(m.children())
    return stride


# --------------------------------------------------------------------------- models
@dataclass(frozen=True)
class Step:
    """One layer on the time path: ``length`` maps input time to output time.

    ``extent`` is the number of input samples one output sample depends on
    (``None``: all of them), ``stride`` the time step.
    """

    name: str
    length: Callable[[int], int]
    extent: int | None
    stride: int


def _conv_length(k: int, s: int, p: int, d: int) -> Callable[[int], int]:
    return lambda n: (n + 2 * p - d * (k - 1) - 1) // s + 1


def _int(v: int | tuple[int, ...]) -> int:
    return v[0] if isinstance(v, tuple) else int(v)


def _is_pointwise(m: nn.Module) -> bool:
    """Torch layers that map every time sample on its own (in evaluation)."""
    return type(m).__module__ == "torch.nn.modules.activation" or isinstance(
        m,
        (
            nn.modules.batchnorm._BatchNorm,
            nn.modules.instancenorm._InstanceNorm,
            nn.LayerNorm,
            nn.GroupNorm,
            nn.modules.dropout._DropoutNd,
            nn.Identity,
        ),
    )


def _time_free(m: nn.Module) -> bool:
    """Layers of a head that reads the features after the time axis is gone."""
    return isinstance(m, (nn.Flatten, nn.Linear))


def _walk(
    children: Iterable[tuple[str, nn.Module]], num_scales: int | None, prefix: str = ""
) -> tuple[list[Step], int | None]:
    steps: list[Step] = []
    for child_name, m in children:
        name = f"{prefix}{child_name}"
        if isinstance(m, EquivariantModule):
            scales_in = num_scales
            num_scales = m.output_scales(scales_in)
            steps.append(Step(name, lambda n, m=m, s=scales_in: m.output_length(n, s),
                              m.receptive_extent(scales_in), m.time_stride))  # fmt: skip
        elif isinstance(m, nn.Conv1d):
            (k,), (s,), (d,) = m.kernel_size, m.stride, m.dilation
            if isinstance(m.padding, str):  # "same" (stride 1) or "valid"
                same = m.padding == "same"
                length = (lambda n, s=s: -(-n // s)) if same else _conv_length(k, s, 0, d)
            else:
                length = _conv_length(k, s, m.padding[0], d)
            steps.append(Step(name, length, d * (k - 1) + 1, s))
        elif isinstance(m, (nn.MaxPool1d, nn.AvgPool1d)):
            k = _int(m.kernel_size)
            s = _int(m.stride) if m.stride is not None else k
            steps.append(Step(name, _conv_length(k, s, _int(m.padding), 1), k, s))
        elif _is_pointwise(m) or _time_free(m):
            continue
        elif any(True for _ in m.children()):
            inner, num_scales = _walk(m.named_children(), num_scales, f"{name}.")
            steps += inner
        else:
            raise TypeError(
                f"cannot tell how layer {name!r} ({type(m).__name__}) changes the time length: "
                f"derive it from wavelet_networks.nn.EquivariantModule (output_length, "
                f"output_scales, receptive_extent, time_stride), or use torch's Conv1d, "
                f"MaxPool1d or AvgPool1d"
            )
    return steps, num_scales


def length_steps(model: nn.Module) -> list[Step]:
    """The layers of time of ``model`` in registration (= forward) order.

    Tracks the number of scales from the lifting layer on (for the extent of
    group kernels at their coarsest scale); raises a ValueError where a layer
    runs out of scales, a TypeError for a leaf module of unknown arithmetic.
    """
    if isinstance(model, EquivariantModule):
        return [Step("", lambda n: model.output_length(n, None), model.receptive_extent(None),
                     model.time_stride)]  # fmt: skip
    return _walk(model.named_children(), None)[0]


def _apply(steps: list[Step], n: int) -> int:
    for step in steps:
        n = step.length(n)
        if n < 1:
            return 0
    return n


def output_length(steps: list[Step], n: int) -> int:
    """Time length after all ``steps`` for an input of ``n`` samples (0 if a layer fails)."""
    return _apply(steps, n)


def receptive_field(steps: list[Step]) -> int | None:
    """Input samples that one output time step after ``steps`` depends on (``None``: all)."""
    field, jump = 1, 1
    for step in steps:
        if step.extent is None:
            return None
        field += (step.extent - 1) * jump
        jump *= step.stride
    return field

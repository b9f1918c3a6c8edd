"""Every fast implementation of every operation against the operation's reference.

One test, run for each registered implementation (``OPERATIONS[...].implementations``):
for inputs drawn by hypothesis where the implementation applies, its values and
its gradients (of every differentiable input) equal the reference's up to float
rounding, and so do the running statistics it updates. The thresholds that keep
fast paths off small inputs are set to zero here, so every path runs on small ones.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

import wavelet_networks as wn
from wavelet_networks.functional import OPERATIONS
from wavelet_networks.functional.fast import _native

# every fast path takes small inputs (the measured thresholds are for W-M11's sizes)
SMALL = dict(thread_min_item=0, pool_min_item=0, product_channels=1, product_output=2**40)
TOL = {torch.float32: 2e-5, torch.float64: 1e-10}

IMPLEMENTATIONS = [
    pytest.param(op, impl, id=f"{op.name}:{impl.name}")
    for op in OPERATIONS.values()
    for impl in op.implementations
]


@pytest.fixture(autouse=True)
def _two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the threaded paths need more than one
    yield
    torch.set_num_threads(before)


def _randn(gen: torch.Generator, *shape: int, dtype: torch.dtype, ties: bool = False):
    x = torch.randn(*shape, generator=gen, dtype=dtype)
    return torch.round(x * 2) / 2 if ties else x


class Case:
    """Arguments of one call; ``grads`` names the tensors whose gradients are compared."""

    def __init__(self, args: tuple, kwargs: dict, grads: list[int], dtype: torch.dtype):
        self.args, self.kwargs, self.dtype = args, kwargs, dtype
        self.grads = [i for i in grads if args[i] is not None]

    def __repr__(self) -> str:
        show = [tuple(a.shape) if isinstance(a, torch.Tensor) else a for a in self.args]
        return f"Case({show}, {self.kwargs}, {self.dtype})"

    def fresh(self) -> tuple[tuple, dict, list[torch.Tensor]]:
        """Copies of the arguments (running statistics change in place), gradients wanted."""
        args = list(copy.deepcopy(self.args))
        wanted = []
        for i in self.grads:
            args[i] = args[i].detach().clone().requires_grad_(True)
            wanted.append(args[i])
        return tuple(args), dict(self.kwargs), wanted


# --------------------------------------------------------------------------- cases per operation
common = dict(
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    batch=st.integers(1, 3),
    order=st.integers(0, 3),
    padding=st.sampled_from(["same", "valid"]),
)


@st.composite
def lifting_cases(draw, impl: str) -> Case:
    gen = torch.Generator().manual_seed(draw(common["seed"]))
    dtype = draw(common["dtype"])
    base = draw(st.sampled_from([2.0, 3.0] if impl == "factorized" else [2.0, 3.0, 1.5]))
    scales = wn.ScaleGrid(draw(st.integers(1, 4 if base == 2 else 3)), base)
    k = draw(st.integers(2, 9))
    c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    x = _randn(gen, draw(common["batch"]), c_in, draw(st.integers(300, 600)), dtype=dtype)
    w = _randn(gen, c_out, c_in, k, dtype=dtype)
    bias = _randn(gen, c_out, dtype=dtype) if draw(st.booleans()) else None
    method = {"fft": "fft", "factorized": draw(st.sampled_from(["auto", "factorized"]))}[impl]
    kwargs = dict(spline_order=draw(common["order"]), stride=draw(st.integers(1, 3)),
                  padding=draw(common["padding"]), method=method)  # fmt: skip
    return Case((x, w, scales, bias), kwargs, [0, 1] + ([3] if bias is not None else []), dtype)


@st.composite
def group_cases(draw, impl: str) -> Case:
    gen = torch.Generator().manual_seed(draw(common["seed"]))
    dtype = draw(common["dtype"])
    base = draw(st.sampled_from([1.5, 2.0, 3.0] if impl in ("fft", "pointwise", "threads") else [2.0, 3.0]))
    m = draw(st.integers(1, 3))
    boundary = draw(st.sampled_from(["crop", "truncate"]))
    scales = draw(st.integers(m, 4 if base < 3 else 3))
    k = 1 if impl == "pointwise" else draw(st.integers(2, 5))
    c_in, c_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    batch = draw(st.integers(2, 3)) if impl in ("itemwise", "threads") else draw(common["batch"])
    x = _randn(gen, batch, c_in, scales, draw(st.integers(200, 500)), dtype=dtype)
    w = _randn(gen, c_out, c_in, m, k, dtype=dtype)
    bias = _randn(gen, c_out, dtype=dtype) if draw(st.booleans()) else None
    stride = 1 if impl == "itemwise" else draw(st.integers(1, 2))
    if impl == "fft":
        method = "fft"
    elif impl == "itemwise" or base != 1.5:
        method = draw(st.sampled_from(["factorized", "auto"] if impl != "itemwise" else ["factorized"]))
    else:
        method = "auto"
    kwargs = dict(spline_order=draw(common["order"]), scale_boundary=boundary, stride=stride,
                  padding=draw(common["padding"]), method=method)  # fmt: skip
    return Case((x, w, base, bias), kwargs, [0, 1] + ([3] if bias is not None else []), dtype)


@st.composite
def time_pool_cases(draw, impl: str) -> Case:
    gen = torch.Generator().manual_seed(draw(common["seed"]))
    dtype = draw(common["dtype"])
    size = draw(st.integers(2, 9))
    # few distinct values: ties in many windows (the gradient goes to the first)
    x = _randn(gen, draw(common["batch"]), 3, 2, draw(st.integers(size, 200)), dtype=dtype,
               ties=True)  # fmt: skip
    return Case((x, size), {}, [0], dtype)


# kernels of one vector and more (the compiled weight gradient keeps ceil(K / lanes) sums in
# registers, the last overlapping; beyond 8 vectors a plain loop)
KERNELS = st.one_of(st.integers(2, 11), st.sampled_from([16, 17, 33, 79]))


def _grid_and_weights(draw, gen, dtype, c_in=None):
    base = draw(st.sampled_from([2.0, 3.0]))
    scales = wn.ScaleGrid(draw(st.integers(1, 5 if base == 2 else 3)), base)
    c_in = draw(st.integers(1, 2)) if c_in is None else c_in
    w = _randn(gen, draw(st.integers(1, 5)), c_in, draw(KERNELS), dtype=dtype)
    return scales, w


def _time(draw, scales: wn.ScaleGrid, k: int, order: int, padding: str, pool: int) -> int:
    """A length that fits the coarsest kernel for "valid" padding: short ones (less than one
    block of products) and long ones."""
    left, right = wn.functional.kernel_extent(k, scales[-1], order)
    least = (left + right if padding == "valid" else 0) + 2 * pool
    return least + draw(st.one_of(st.integers(0, 40), st.integers(300, 1500)))


@st.composite
def lifting_pool_cases(draw, impl: str) -> Case:
    gen = torch.Generator().manual_seed(draw(common["seed"]))
    dtype = torch.float64  # a max of values equal up to rounding could pick either one
    scales, w = _grid_and_weights(draw, gen, dtype)
    pool = draw(st.sampled_from([2, 3, 4, 5, 8, 16, 32]))
    kwargs = dict(spline_order=draw(common["order"]), padding=draw(common["padding"]))
    time = _time(draw, scales, w.shape[-1], kwargs["spline_order"], kwargs["padding"], pool)
    x = _randn(gen, draw(common["batch"]), w.shape[1], time, dtype=dtype)
    if draw(st.booleans()):  # silence: exact ties in its windows
        x[..., time // 4 : time // 2] = 0
    bias = _randn(gen, w.shape[0], dtype=dtype) if draw(st.booleans()) else None
    return Case((x, w, scales, pool, bias), kwargs, [1] + ([4] if bias is not None else []), dtype)


def _batch_norm_params(draw, gen, c, dtype):
    gamma = torch.rand(c, generator=gen, dtype=dtype) + 0.5
    if draw(st.booleans()):  # a negative scale: the pool takes the minimum there
        gamma[0] = -0.8
    if draw(st.booleans()):  # a zero scale: a flat output, the pool takes the first entry
        gamma[-1] = 0.0
    beta = _randn(gen, c, dtype=dtype) * 0.3
    if draw(st.integers(0, 3)) == 0:  # no affine map
        gamma = beta = None
    if draw(st.booleans()):
        mean, var = _randn(gen, c, dtype=dtype) * 0.1, torch.rand(c, generator=gen, dtype=dtype) + 0.5
    else:
        mean = var = None
    return gamma, beta, mean, var


@st.composite
def stem_cases(draw, impl: str) -> Case:
    gen = torch.Generator().manual_seed(draw(common["seed"]))
    dtype = torch.float64
    scales, w = _grid_and_weights(draw, gen, dtype, c_in=1)
    gamma, beta, mean, var = _batch_norm_params(draw, gen, w.shape[0], dtype)
    pools = (draw(st.sampled_from([2, 3, 4])), draw(st.sampled_from([1, 2, 3, 4, 5])))
    training = draw(st.booleans()) or mean is None
    kwargs = dict(spline_order=draw(common["order"]), padding=draw(common["padding"]))
    time = _time(draw, scales, w.shape[-1], kwargs["spline_order"], kwargs["padding"],
                 pools[0] * pools[1])  # fmt: skip
    x = _randn(gen, draw(common["batch"]), 1, time, dtype=dtype)
    args = (x, w, scales, pools, mean, var, gamma, beta, training, 0.1, 1e-5)
    return Case(args, kwargs, [1, 6, 7], dtype)


@st.composite
def norm_pool_cases(draw, impl: str) -> Case:
    gen = torch.Generator().manual_seed(draw(common["seed"]))
    dtype = torch.float64
    c = draw(st.integers(1, 5))
    x = _randn(gen, draw(common["batch"]), c, 3, draw(st.integers(8, 300)), dtype=dtype, ties=True)
    gamma, beta, mean, var = _batch_norm_params(draw, gen, c, dtype)
    training = draw(st.booleans()) or mean is None
    pool = draw(st.integers(2, 8))
    return Case((x, mean, var, gamma, beta, training, 0.1, 1e-5, pool), {}, [0, 3, 4], dtype)


@st.composite
def activation_cases(draw, impl: str) -> Case:
    gen = torch.Generator().manual_seed(draw(common["seed"]))
    dtype = draw(common["dtype"])
    oversample = draw(st.integers(2, 4))
    taps = draw(st.sampled_from([None, 2 * oversample + 1, 4 * oversample + 1]))
    shape = draw(st.sampled_from([(5, 40), (2, 3, 33), (2, 2, 3, 20)]))
    activation = draw(st.sampled_from([torch.relu, torch.tanh]))
    x = _randn(gen, *shape, dtype=dtype)
    return Case((x, activation, oversample, taps), {}, [0], dtype)


@st.composite
def proportional_pool_cases(draw, impl: str) -> Case:
    gen = torch.Generator().manual_seed(draw(common["seed"]))
    dtype = draw(common["dtype"])
    x = _randn(gen, draw(common["batch"]), draw(st.integers(1, 3)), draw(st.integers(1, 7)),
               draw(st.integers(1, 400)), dtype=dtype, ties=draw(st.booleans()))
    kernel_size = draw(st.integers(1, 8))
    stride = draw(st.sampled_from([None, 1, 2, 3, 4]))
    return Case((x, kernel_size, stride), {}, [0], dtype)


CASES: dict[str, Callable[[str], st.SearchStrategy[Case]]] = {
    "lifting_conv1d": lifting_cases,
    "group_conv1d": group_cases,
    "time_max_pool": time_pool_cases,
    "lifting_conv_max_pool1d": lifting_pool_cases,
    "lifting_stem": stem_cases,
    "batch_norm_relu_pool": norm_pool_cases,
    "antialiased_activation": activation_cases,
    "scale_proportional_max_pool": proportional_pool_cases,
}


def _run(fn, case: Case) -> tuple[torch.Tensor, list[torch.Tensor], tuple]:
    args, kwargs, wanted = case.fresh()
    y = fn(*args, **kwargs)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(7), dtype=y.dtype)
    grads = torch.autograd.grad(y, wanted, g, allow_unused=True)
    state = tuple(a for a in args if isinstance(a, torch.Tensor) and not a.requires_grad)
    return y, list(grads), state


def _close(a: torch.Tensor | None, b: torch.Tensor | None, tol: float, what: str) -> None:
    assert (a is None) == (b is None), what
    if b is None:
        return
    assert a.shape == b.shape, f"{what}: shape {tuple(a.shape)} against {tuple(b.shape)}"
    assert a.dtype == b.dtype, what
    scale = b.double().norm().item()
    err = (a.double() - b.double()).norm().item()
    assert err <= tol * max(scale, 1e-30), f"{what}: relative error {err / max(scale, 1e-30):.2e}"


def test_every_operation_with_implementations_has_cases():
    assert {op.name for op in OPERATIONS.values() if op.implementations} == set(CASES)


@pytest.mark.parametrize(("op", "impl"), IMPLEMENTATIONS)
@given(data=st.data())
def test_implementation_equals_the_reference(op, impl, data):
    needs_native = (op.name, impl.name) in {("time_max_pool", "compiled"),
                                            ("batch_norm_relu_pool", "fused")}  # fmt: skip
    if needs_native and _native.library() is None:
        pytest.skip("no working C compiler: the compiled loops are unavailable")
    case = data.draw(CASES[op.name](impl.name))
    with wn.configure(**SMALL):
        assume(impl.applies(*case.args, **case.kwargs))
        got, got_grads, got_state = _run(impl.run, case)
    want, want_grads, want_state = _run(op.reference, case)
    tol = TOL[case.dtype]
    _close(got, want, tol, "values")
    for i, (a, b) in enumerate(zip(got_grads, want_grads, strict=True)):
        _close(a, b, tol, f"gradient of argument {case.grads[i]}")
    for i, (a, b) in enumerate(zip(got_state, want_state, strict=True)):
        _close(a, b, tol, f"tensor argument {i} after the call (running statistics)")


def test_a_wrong_implementation_is_caught():
    """The comparison above fails for an implementation that is off by one sample."""
    op = OPERATIONS["lifting_conv1d"]
    gen = torch.Generator().manual_seed(0)
    x, w = torch.randn(2, 1, 300, generator=gen), torch.randn(3, 1, 5, generator=gen)
    case = Case((x, w, wn.ScaleGrid(3)), {}, [0, 1], torch.float32)
    factorized = next(impl for impl in op.implementations if impl.name == "factorized")
    got, _, _ = _run(lambda *a, **k: factorized.run(*a, **k).roll(1, -1), case)
    want, _, _ = _run(op.reference, case)
    with pytest.raises(AssertionError, match="relative error"):
        _close(got, want, TOL[case.dtype], "values")

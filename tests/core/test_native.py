"""The compiled loops against the torch operations they replace."""

import warnings

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import wavelet_networks as wn
from wavelet_networks import functional as WF
from wavelet_networks.functional.fast import _native, pooled
from wavelet_networks.grid import ScaleGrid

needs_library = pytest.mark.skipif(
    _native.library() is None, reason="no working C compiler: the compiled loops are unavailable"
)


@pytest.fixture
def fresh_library(monkeypatch, tmp_path):
    """``library()`` rebuilt from scratch in an empty cache, and cleared again afterwards."""
    monkeypatch.setenv("WAVELET_NETWORKS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("WAVELET_NETWORKS_NATIVE", raising=False)
    monkeypatch.setattr(_native.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    _native.library.cache_clear()
    yield tmp_path
    _native.library.cache_clear()


def product(d, nq, c, dtype, gen, ties=False, nan=False):
    """A random product ``Y`` ``(d * nq, BLOCK * c)``, optionally with ties and NaNs."""
    y = torch.randn(d * nq, pooled.BLOCK * c, generator=gen, dtype=dtype)
    if ties:  # few distinct values: many windows hold their maximum twice
        y = torch.round(y * 1.5)
    if nan:
        y.view(-1)[torch.randperm(y.numel(), generator=gen)[: y.numel() // 50]] = float("nan")
    return y


# dilations and pools of every layout of a product's windows (see pooled._layout): the pool
# divides the dilation ("phase"), the dilation divides it and the quotient divides BLOCK
# ("block"), or neither ("time")
DILATIONS = st.sampled_from([1, 2, 3, 4, 6, 8, 16])
POOLS = st.integers(2, 16)


def check_pool(d, pool, dtype, kind, c, layout, seed=0):
    """The compiled pooling of one product equals the tournament of torch operations."""
    gen = torch.Generator().manual_seed(seed)
    nq = pool * 3  # whole windows in every layout
    y = product(d, nq, c, dtype, gen, ties=kind == "ties", nan=kind == "nan")
    n = nq * pooled.BLOCK * d // pool
    out = {}
    for native in (True, False):
        if layout == "time":
            dest = torch.full((c, n + 5), 7.0, dtype=dtype)
        else:  # (C, n) rows of a channels-last buffer, as the fused stem's
            dest = torch.full((n + 5, c), 7.0, dtype=dtype).t()
        with wn.configure(native=native):
            offset = pooled._pool(y, d, nq, pool, dest[:, :n])
        out[native] = dest, offset
    torch.testing.assert_close(out[True][0], out[False][0], rtol=0, atol=0, equal_nan=True)
    assert (out[True][0][:, n:] == 7.0).all()  # nothing written past the destination
    offset = out[True][1]
    entries = torch.stack(pooled._window(y, d, nq, pool))
    picked = entries.gather(0, offset.long().unsqueeze(0)).squeeze(0)
    if kind == "nan":  # as max_pool1d: a NaN wins (the tournament's index may point elsewhere)
        best = entries.amax(dim=0)
        assert torch.isnan(picked[torch.isnan(best)]).all()
        assert torch.equal(offset[~torch.isnan(best)], out[False][1][~torch.isnan(best)])
    else:
        assert torch.equal(offset, out[False][1])
        assert torch.equal(picked, entries.amax(dim=0))


@needs_library
@given(d=DILATIONS, pool=POOLS, dtype=st.sampled_from([torch.float32, torch.float64]),
       kind=st.sampled_from(["random", "ties", "nan"]), c=st.sampled_from([1, 9, 70]),
       layout=st.sampled_from(["time", "channels last"]), seed=st.integers(0, 1000))  # fmt: skip
def test_pool_matches_tournament(d, pool, dtype, kind, c, layout, seed):
    check_pool(d, pool, dtype, kind, c, layout, seed)


@needs_library
@pytest.mark.parametrize("d, pool", [(1, 4), (2, 4), (16, 4), (2, 8), (1, 3), (4, 5)])
def test_pool_cut_short(d, pool):
    """The last product of a row fills only part of its destination."""
    gen = torch.Generator().manual_seed(3)
    nq = pool * 2
    y = product(d, nq, 9, torch.float32, gen)
    n = nq * pooled.BLOCK * d // pool - 3
    out = {}
    for native in (True, False):
        dest = torch.zeros(9, n)
        with wn.configure(native=native):
            out[native] = dest, pooled._pool(y, d, nq, pool, dest)
    assert torch.equal(out[True][0], out[False][0])
    assert torch.equal(out[True][1], out[False][1])


@needs_library
@given(d=DILATIONS, pool=POOLS, dtype=st.sampled_from([torch.float32, torch.float64]),
       seed=st.integers(0, 1000))  # fmt: skip
def test_unpool_matches_scatter(d, pool, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    nq, c = pool * 2, 70
    y = product(d, nq, c, dtype, gen, ties=True)
    n = nq * pooled.BLOCK * d // pool
    with wn.configure(native=False):
        offset = pooled._pool(y, d, nq, pool, torch.empty(c, n, dtype=dtype))
    grad = torch.randn(c, n + 4, generator=gen, dtype=dtype)[:, 2 : n + 2]  # a strided view
    out = {}
    for native in (True, False):
        buffer = torch.full((y.numel() + 10,), 3.0, dtype=dtype)
        with wn.configure(native=native):
            dy = pooled._unpool(grad, offset, d, nq, pool, buffer).clone()
        out[native] = dy
    assert torch.equal(out[True], out[False])
    # the adjoint: every gradient lands once, the rest is zero
    assert (out[True] != 0).sum() == (grad != 0).sum()
    torch.testing.assert_close(out[True].double().sum(), grad.double().sum())


@needs_library
@pytest.mark.parametrize(
    "pool, base, num_scales",
    [(4, 2.0, 9), (3, 2.0, 5), (2, 3.0, 4), (5, 2.0, 6), (16, 2.0, 6), (8, 2.0, 5)],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_lifting_same_either_way(pool, base, num_scales, dtype):
    gen = torch.Generator().manual_seed(pool)
    x = torch.randn(3, 2, 1501, generator=gen, dtype=dtype)
    w = torch.randn(7, 2, 9, generator=gen, dtype=dtype)
    grid = ScaleGrid(num_scales, base)
    out = {}
    for native in (True, False):
        wg = w.clone().requires_grad_(True)
        with wn.configure(native=native):
            y = WF.lifting_conv_max_pool1d(x, wg, grid, pool)
            (dw,) = torch.autograd.grad(y, wg, torch.ones_like(y))
        out[native] = y, dw
    # equal up to rounding: the C smoothing sums its taps in another order
    torch.testing.assert_close(out[True][0], out[False][0])
    # weight gradients are sums of ~10^4 terms: compare relative to their norm
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert (out[True][1] - out[False][1]).norm() <= tol * out[False][1].norm()


@needs_library
@pytest.mark.parametrize(
    "c_in, k, num_scales, pool, time",
    [
        (1, 79, 9, 4, 22000),  # W-M11's stem up to dilation 256: windows a part at a time
        (2, 17, 6, 4, 3000),  # the last register sum overlapping the one before
        (1, 16, 5, 2, 2000),
        (1, 130, 4, 4, 3000),  # beyond 8 vectors: the plain loop
        (3, 5, 5, 3, 1500),  # short kernels, pool 3 on dyadic scales
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_window_gradient_equals_the_dense_product(c_in, k, num_scales, pool, time, dtype):
    """The weight gradient from the windows' maxima (``_native.pool_grad``) is ``X^T dY``."""
    gen = torch.Generator().manual_seed(k)
    x = torch.randn(2, c_in, time, generator=gen, dtype=dtype)
    w = torch.randn(4, c_in, k, generator=gen, dtype=dtype)
    out = {}
    for windows in (True, False):
        wg = w.clone().requires_grad_(True)
        with wn.configure(native=True, window_gradient=windows):
            y = WF.lifting_conv_max_pool1d(x, wg, ScaleGrid(num_scales), pool)
            g = torch.randn(y.shape, generator=torch.Generator().manual_seed(3), dtype=dtype)
            (dw,) = torch.autograd.grad(y, wg, g)
        out[windows] = y, dw
    assert torch.equal(out[True][0], out[False][0])  # one forward: the same maxima
    tol = 1e-6 if dtype == torch.float32 else 1e-14
    assert (out[True][1] - out[False][1]).norm() <= tol * out[False][1].norm()


@needs_library
def test_window_gradient_of_the_stem_equals_the_dense_product():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 1, 6000, generator=gen)
    params = torch.randn(5, 1, 79, generator=gen), torch.rand(5, generator=gen) - 0.3
    out = {}
    for windows in (True, False):
        w, gamma = (t.clone().requires_grad_(True) for t in params)
        with wn.configure(window_gradient=windows):  # read by the backward pass
            y = WF.lifting_stem(x, w, ScaleGrid(7), (4, 4), None, None, gamma, None, True)
            g = torch.randn(y.shape, generator=torch.Generator().manual_seed(3))
            out[windows] = y, torch.autograd.grad(y, [w, gamma], g)
    assert torch.equal(out[True][0], out[False][0])
    (dw1, dg1), (dw2, dg2) = out[True][1], out[False][1]
    assert (dw1 - dw2).norm() <= 1e-6 * dw2.norm() and not torch.equal(dw1, dw2)
    assert torch.equal(dg1, dg2)


@needs_library
@pytest.mark.parametrize("pools", [(4, 4), (2, 3), (3, 2)])
def test_fused_stem_same_either_way(pools):
    gen = torch.Generator().manual_seed(sum(pools))
    x = torch.randn(3, 1, 1200, generator=gen)
    w = torch.randn(6, 1, 9, generator=gen)
    gamma = torch.rand(6, generator=gen) + 0.5
    gamma[0] = -1.0
    beta = torch.randn(6, generator=gen)
    seed = torch.Generator().manual_seed(7)
    out = {}
    for native in (True, False):
        params = [t.clone().requires_grad_(True) for t in (w, gamma, beta)]
        with wn.configure(native=native):
            y = WF.lifting_stem(x, params[0], ScaleGrid(5), pools, None, None, *params[1:], True)
            g = torch.randn(y.shape, generator=seed.manual_seed(7))
            grads = torch.autograd.grad(y, params, g)
        out[native] = y, grads
    # equal up to rounding: the C statistics are summed in float64
    torch.testing.assert_close(out[True][0], out[False][0])
    for a, b in zip(out[True][1], out[False][1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_available_only_for_cpu_float32_and_float64():
    assert not _native.available(torch.bfloat16, torch.device("cpu"))
    assert not _native.available(torch.float32, torch.device("meta"))
    with wn.configure(native=False):
        assert not _native.available(torch.float32, torch.device("cpu"))
    assert _native.available(torch.float32, torch.device("cpu")) == (_native.library() is not None)


def test_turned_off_by_environment(fresh_library, monkeypatch):
    monkeypatch.setenv("WAVELET_NETWORKS_NATIVE", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _native.library() is None
    assert not _native.available(torch.float32, torch.device("cpu"))


def test_missing_compiler_warns_and_falls_back(fresh_library, monkeypatch):
    monkeypatch.setenv("CC", str(fresh_library / "no-such-compiler"))
    with pytest.warns(RuntimeWarning, match="compiled loops are unavailable"):
        assert _native.library() is None
    # the layers still work, through torch operations
    x, w = torch.randn(1, 1, 300), torch.randn(3, 1, 5)
    y = WF.lifting_conv_max_pool1d(x, w, ScaleGrid(3), 4)
    assert y.shape == (1, 3, 3, 75)


def test_failing_compiler_names_its_error(fresh_library, monkeypatch):
    script = fresh_library / "broken-cc"
    script.write_text(
        "#!/bin/sh\n[ \"$1\" = --version ] && exit 0\necho 'cc: out of coffee' >&2\nexit 3\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("CC", str(script))
    with pytest.warns(RuntimeWarning, match="out of coffee"):
        assert _native.library() is None
    assert not list((fresh_library / "cache" / "native").glob("*"))  # no half-written library


@needs_library
def test_built_once_into_the_cache(fresh_library):
    assert _native.library() is not None
    built = list((fresh_library / "cache" / "native").glob("wn_native-*.so"))
    assert len(built) == 1
    stamp = built[0].stat().st_mtime_ns
    _native.library.cache_clear()
    assert _native.library() is not None
    assert built[0].stat().st_mtime_ns == stamp  # loaded, not rebuilt


@needs_library
def test_unwritable_cache_falls_back_to_temporary_directory(fresh_library, monkeypatch):
    blocker = fresh_library / "file"
    blocker.write_text("")
    monkeypatch.setenv("WAVELET_NETWORKS_CACHE", str(blocker))  # a file: mkdir fails beneath it
    assert _native.library() is not None
    assert list((fresh_library / "tmp").glob("wavelet_networks-*/wn_native-*.so"))


@needs_library
def test_compiler_without_march_native_still_builds(fresh_library, monkeypatch):
    """A compiler that rejects ``-march=native`` gets the generic build."""
    real = _native._compiler()
    script = fresh_library / "no-native-cc"
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in *-march=native*) ;; *) exec ' + real + ' "$@";; esac\n'
        "echo 'error: unknown target CPU native' >&2\nexit 1\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("CC", str(script))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _native.library() is not None
    check_pool(4, 4, torch.float32, "ties", 70, "time")  # and computes the same


def test_cache_key_names_the_cpu(monkeypatch):
    """A library built for one CPU is not loaded on another (shared home directories)."""
    from wavelet_networks import _machine

    here = _machine.cpu_features()
    assert here.strip()
    monkeypatch.setattr(_machine, "cpu_name", lambda: "another CPU")
    assert _machine.cpu_features() != here


@needs_library
@given(taps=st.lists(st.sampled_from([0.0, 0.125, 0.25, 0.5, 0.75, 1 / 6, 2 / 3]), min_size=2,
                     max_size=6).filter(any),
       dilation=st.integers(1, 9), dtype=st.sampled_from([torch.float32, torch.float64]),
       seed=st.integers(0, 1000))  # fmt: skip
def test_smooth_matches_shifted_slices(taps, dilation, dtype, seed):
    from wavelet_networks.functional.fast import cascade as smoothing

    gen = torch.Generator().manual_seed(seed)
    full = torch.randn(2, 5, 6, 5000, generator=gen, dtype=dtype)
    x = full[:, 1:4, ::2, 3:]  # strided rows
    n = x.shape[-1] - (len(taps) - 1) * dilation
    with wn.configure(native=False):
        expected = smoothing._shifted_sum(x, taps, dilation, n)
    got = _native.smooth(x, taps, dilation, n)
    assert got.is_contiguous() and got.shape == expected.shape
    torch.testing.assert_close(got, expected)
    # the adjoint: <smooth(x), g> = <x, smooth_adjoint(g)>, written fresh or added
    g = torch.randn(got.shape, generator=gen, dtype=dtype)
    target = torch.full_like(x, 5.0)
    _native.smooth_adjoint(g, taps, dilation, target, zero=True)
    lhs, rhs = (got.double() * g.double()).sum(), (x.double() * target.double()).sum()
    torch.testing.assert_close(lhs, rhs, rtol=1e-5, atol=1e-5)
    before = target.clone()
    _native.smooth_adjoint(g, taps, dilation, target, zero=False)
    torch.testing.assert_close(target, 2 * before)


@needs_library
def test_smooth_skips_zero_taps_as_torch_does():
    """A zero tap over an infinite sample contributes nothing (0 * inf would be NaN)."""
    x = torch.zeros(1, 1, 20)
    x[0, 0, 10] = float("inf")
    assert torch.isfinite(_native.smooth(x, [1.0, 0.0], 10, 10)).all()


@needs_library
@pytest.mark.parametrize("m", [1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_group_conv_same_either_way(m, dtype):
    """The cascade smoothing and its adjoint in C give the torch operations' values and gradients."""
    gen = torch.Generator().manual_seed(m)
    x = torch.randn(2, 6, 7, 300, generator=gen, dtype=dtype)
    w = torch.randn(5, 6, m, 3, generator=gen, dtype=dtype)
    g = None
    out = {}
    for native in (True, False):
        xg, wg = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
        with wn.configure(native=native):
            y = WF.group_conv1d(xg, wg, 2.0, method="factorized")
            g = torch.randn(y.shape, generator=gen, dtype=dtype) if g is None else g
            out[native] = (y, *torch.autograd.grad(y, [xg, wg], g))
    for a, b in zip(out[True], out[False], strict=True):
        torch.testing.assert_close(a, b)

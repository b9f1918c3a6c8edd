import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.interpolate import BSpline

from wavelet_networks.splines import (
    bspline,
    bspline_support,
    refinement_coefficients,
    sampled_bspline,
)

ORDERS = range(0, 6)


@pytest.mark.parametrize("order", ORDERS)
def test_matches_scipy(order):
    half = (order + 1) / 2
    knots = np.arange(order + 2) - half
    ref = BSpline.basis_element(knots, extrapolate=False)
    x = np.linspace(-half - 1, half + 1, 1001)
    expected = np.nan_to_num(ref(x))
    got = bspline(torch.from_numpy(x), order).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-12)


@pytest.mark.parametrize("order", ORDERS)
def test_support(order):
    lo, hi = bspline_support(order)
    assert lo == -hi == -(order + 1) / 2
    x = torch.tensor([lo - 1e-9, hi, hi + 0.5], dtype=torch.float64)
    assert torch.all(bspline(x, order) == 0)
    assert bspline(torch.tensor([0.0]), order).item() > 0


@settings(max_examples=50, deadline=None)
@given(x=st.floats(-10, 10), order=st.integers(0, 6))
def test_partition_of_unity(x, order):
    shifts = torch.arange(-20, 21, dtype=torch.float64)
    assert bspline(x - shifts, order).sum().item() == pytest.approx(1.0, abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(x=st.floats(-6, 6), order=st.integers(0, 6))
def test_two_scale_relation(x, order):
    c = refinement_coefficients(order)
    half = (order + 1) / 2
    j = torch.arange(order + 2, dtype=torch.float64)
    rhs = (c * bspline(x + half - j, order)).sum().item()
    assert bspline(torch.tensor(x / 2, dtype=torch.float64), order).item() == pytest.approx(
        rhs, abs=1e-9
    )


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("scale", [1, 2, 3, 4, 8])
def test_sampled_filter_sums_to_one_and_is_symmetric(order, scale):
    h = sampled_bspline(scale, order, dtype=torch.float64)
    assert h.numel() % 2 == 1
    assert h.sum().item() == pytest.approx(1.0, abs=1e-12)
    torch.testing.assert_close(h, h.flip(0))


def test_integral_is_one():
    x = torch.linspace(-4, 4, 80001, dtype=torch.float64)
    for order in ORDERS:
        # The trapezoid rule is off by one grid step at the jumps of B^0.
        tol = 2e-4 if order == 0 else 1e-6
        assert torch.trapezoid(bspline(x, order), x).item() == pytest.approx(1.0, abs=tol)


@pytest.mark.parametrize("order", [2, 3])
def test_gradcheck(order):
    x = (torch.rand(20, dtype=torch.float64) * 4 - 2).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: bspline(t, order), (x,))


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_bad_order(bad):
    with pytest.raises(ValueError, match="spline_order"):
        bspline(torch.zeros(3), bad)


def test_refinement_coefficients_sum():
    for order in ORDERS:
        assert refinement_coefficients(order).sum().item() == pytest.approx(2.0)
        assert math.isclose(refinement_coefficients(order)[0].item(), 2.0**-order)

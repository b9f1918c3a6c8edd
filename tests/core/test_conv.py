"""Lifting and group convolutions: the reference against brute force, shapes, errors."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import wavelet_networks as wn
from wavelet_networks import functional as WF
from wavelet_networks.functional import reference
from wavelet_networks.splines import bspline


def reference_lifting(x: np.ndarray, w: np.ndarray, scales, order: int) -> np.ndarray:
    """Brute force: sample psi_s(x) = 1/s sum_k w_k B(x/s - k) and correlate with zero padding."""
    b, _c_in, t = x.shape
    c_out, _, k = w.shape
    out = np.zeros((b, c_out, len(scales), t))
    centres = np.arange(k) - k // 2
    for j, s in enumerate(scales):
        r = int(np.ceil(s * (k // 2 + (order + 1) / 2))) + 1
        taps = np.arange(-r, r + 1)
        basis = bspline(torch.from_numpy(taps[None] / s - centres[:, None]), order).numpy() / s
        psi = np.einsum("oik,kl->oil", w, basis)  # (out, in, taps)
        xp = np.pad(x, ((0, 0), (0, 0), (r, r)))
        for tau_i, tau in enumerate(taps):
            out[:, :, j] += np.einsum(
                "oi,bit->bot", psi[:, :, tau_i], xp[:, :, r + tau : r + tau + t]
            )
    return out


@given(
    kernel_size=st.integers(1, 6),
    order=st.integers(0, 4),
    base=st.sampled_from([2.0, 3.0, 1.5, 2**0.5]),
    num_scales=st.integers(1, 3),
    seed=st.integers(0, 1000),
)
def test_reference_lifting_is_the_sampled_kernel_correlated(kernel_size, order, base, num_scales,
                                                            seed):  # fmt: skip
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 2, 64, generator=gen, dtype=torch.float64)
    w = torch.randn(3, 2, kernel_size, generator=gen, dtype=torch.float64)
    grid = wn.ScaleGrid(num_scales, base)
    got = reference.lifting_conv1d(x, w, grid, spline_order=order)
    if kernel_size == 1:  # pointwise at every scale
        expected = torch.einsum("oi,bit->bot", w[..., 0], x)[:, :, None].expand_as(got)
    else:
        expected = torch.from_numpy(reference_lifting(x.numpy(), w.numpy(), grid.scales, order))
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


@given(m=st.integers(1, 3), k=st.integers(1, 6), order=st.integers(0, 3),
       base=st.sampled_from([2.0, 3.0, 1.5]), boundary=st.sampled_from(["crop", "truncate"]),
       seed=st.integers(0, 1000))  # fmt: skip
def test_reference_group_conv_is_a_lifting_of_the_scales_it_reads(m, k, order, base, boundary,
                                                                  seed):  # fmt: skip
    """Output scale j only sees input scales j .. j+M-1, with the kernel dilated by s_j
    (missing coarser scales count as zero with "truncate")."""
    gen = torch.Generator().manual_seed(seed)
    f = torch.randn(1, 2, 4, 80, generator=gen, dtype=torch.float64)
    w = torch.randn(3, 2, m, k, generator=gen, dtype=torch.float64)
    out = reference.group_conv1d(f, w, base, spline_order=order, scale_boundary=boundary)
    padded = torch.nn.functional.pad(f, (0, 0, 0, m - 1))
    assert out.shape[2] == (4 if boundary == "truncate" else 4 - m + 1)
    for j in range(out.shape[2]):
        lifted = reference.lifting_conv1d(
            padded[:, :, j : j + m].reshape(1, 2 * m, 80), w.reshape(3, 2 * m, k),
            wn.ScaleGrid(j + 1, base), spline_order=order,
        )  # fmt: skip
        torch.testing.assert_close(out[:, :, j], lifted[:, :, j])


@pytest.mark.parametrize(
    ("boundary", "scales_in", "m", "scales_out"),
    [("crop", 9, 3, 7), ("crop", 3, 3, 1), ("truncate", 9, 3, 9), ("crop", 4, 1, 4)],
)
def test_group_shapes(boundary, scales_in, m, scales_out):
    layer = wn.nn.GroupConv1d(4, 6, 3, m, scale_boundary=boundary)
    assert layer(torch.randn(2, 4, scales_in, 50)).shape == (2, 6, scales_out, 50)
    assert layer.output_scales(scales_in) == scales_out


def test_truncate_equals_crop_away_from_coarse_end():
    f = torch.randn(2, 3, 6, 64)
    crop = wn.nn.GroupConv1d(3, 4, 3, 3, scale_boundary="crop")
    trunc = wn.nn.GroupConv1d(3, 4, 3, 3, scale_boundary="truncate")
    trunc.load_state_dict(crop.state_dict())
    torch.testing.assert_close(trunc(f)[:, :, :4], crop(f))


@pytest.mark.parametrize(
    ("stride", "length", "expected"), [(1, 100, 100), (2, 100, 50), (3, 100, 34)]
)
def test_lifting_stride_and_same_padding(stride, length, expected):
    layer = wn.nn.LiftingConv1d(2, 5, 7, 4, stride=stride)
    x = torch.randn(3, 2, length)
    out = layer(x)
    assert out.shape == (3, 5, 4, expected)
    layer.stride = 1
    torch.testing.assert_close(out, layer(x)[..., ::stride])


def test_valid_padding_crops_to_coarsest_support():
    layer = wn.nn.LiftingConv1d(1, 2, 5, 3, padding="valid")
    same = wn.nn.LiftingConv1d(1, 2, 5, 3)
    same.load_state_dict(layer.state_dict())
    x = torch.randn(1, 1, 100)
    left, right = WF.kernel_extent(5, 4, 2)
    out = layer(x)
    assert out.shape[-1] == 100 - left - right
    torch.testing.assert_close(out, same(x)[..., left : 100 - right])


def test_bias_is_shared_over_scales_and_time():
    layer = wn.nn.LiftingConv1d(1, 3, 5, 3, bias=True)
    x = torch.zeros(1, 1, 20)
    out = layer(x)
    torch.testing.assert_close(out, layer.bias[None, :, None, None].expand_as(out))


def test_dtype_and_module_conversions():
    layer = wn.nn.GroupConv1d(2, 3, 3, 2).double()
    out = layer(torch.randn(1, 2, 3, 16, dtype=torch.float64))
    assert out.dtype == torch.float64


@pytest.mark.gpu
def test_cuda_matches_cpu():
    lift = wn.nn.LiftingConv1d(1, 4, 9, 5)
    group = wn.nn.GroupConv1d(4, 4, 3, 3)
    x = torch.randn(2, 1, 512)
    cpu = group(lift(x))
    gpu = group.cuda()(lift.cuda()(x.cuda()))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("make", "x", "match"),
    [
        (lambda: wn.nn.LiftingConv1d(1, 2, 3, 2), torch.randn(4, 100), r"3 dimensions.*\(4, 100\)"),
        (lambda: wn.nn.LiftingConv1d(2, 2, 3, 2), torch.randn(1, 3, 100), r"2 channels.*got 3"),
        (lambda: wn.nn.GroupConv1d(2, 2, 3, 3), torch.randn(1, 2, 100), r"4 dimensions"),
        (lambda: wn.nn.GroupConv1d(2, 2, 3, 3), torch.randn(1, 5, 4, 100), r"2 channels.*got 5"),
        (
            lambda: wn.nn.GroupConv1d(2, 2, 3, 3),
            torch.randn(1, 2, 2, 100),
            r"at least scale_kernel_size=3 scales.*2 scales",
        ),
        (
            lambda: wn.nn.LiftingConv1d(1, 2, 9, 4, padding="valid"),
            torch.randn(1, 1, 50),
            r"at least as long.*got time length 50",
        ),
        (
            lambda: wn.nn.GroupConv1d(1, 2, 9, 1, padding="valid"),
            torch.randn(1, 1, 3, 30),
            r"at least as long",
        ),
    ],
)
def test_bad_input(make, x, match):
    with pytest.raises(ValueError, match=match):
        make()(x)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: wn.nn.LiftingConv1d(1, 2, 3, 0), "num_scales"),
        (lambda: wn.nn.LiftingConv1d(1, 2, 3, 3, base=1.0), "base"),
        (lambda: wn.nn.LiftingConv1d(1, 2, 3, 3, base=-2.0), "base"),
        (lambda: wn.nn.LiftingConv1d(1, 2, 3, 3, spline_order=-1), "spline_order"),
        (lambda: wn.nn.GroupConv1d(1, 2, 3, 3, spline_order=-1), "spline_order"),
        (lambda: wn.nn.GroupConv1d(1, 2, 3, 3, base=0.5), "base"),
        (lambda: wn.nn.GroupConv1d(1, 2, 3, 0), "scale_kernel_size"),
        (lambda: wn.nn.GroupConv1d(1, 2, 3, 3, scale_boundary="wrap"), "scale_boundary"),
        (lambda: wn.nn.LiftingConv1d(0, 2, 3, 3), "in_channels"),
        (lambda: wn.nn.LiftingConv1d(1, 2, 3, 3, padding="full"), "padding"),
        (lambda: wn.nn.LiftingConv1d(1, 2, 3, 3, base=1.5, method="factorized"), "integer base"),
        (lambda: wn.nn.LiftingConv1d(1, 2, 3, 3, method="fastest"), "method"),
    ],
)
def test_bad_configuration(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x, w: WF.lifting_conv1d(x, w, [1.0, 2.0]), "ScaleGrid"),
        (lambda x, w: WF.lifting_conv1d(x, w, wn.ScaleGrid(3, 1.5), method="factorized"),
         "integer scales"),
        (lambda x, w: WF.lifting_conv1d(x, w, wn.ScaleGrid(3), stride=0), "stride"),
        (lambda x, w: WF.group_conv1d(x[:, :, None], w[:, :, None], 1.5, method="factorized"),
         "integer scales"),
    ],
)
def test_functional_bad_arguments(call, match):
    x, w = torch.randn(1, 1, 50), torch.randn(2, 1, 3)
    with pytest.raises((ValueError, TypeError), match=match):
        call(x, w)

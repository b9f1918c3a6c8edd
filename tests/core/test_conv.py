"""Lifting and group convolutions: shapes, the direct formula, gradients, errors."""

import numpy as np
import pytest
import torch

import wavelet_networks as wn
from wavelet_networks import functional as WF
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


@pytest.mark.parametrize("kernel_size", [1, 4, 5])
@pytest.mark.parametrize("order", [0, 2, 3])
@pytest.mark.parametrize("base", [2.0, 3.0, 1.5])
def test_lifting_matches_brute_force(kernel_size, order, base):
    x = torch.randn(2, 2, 64, dtype=torch.float64)
    w = torch.randn(3, 2, kernel_size, dtype=torch.float64)
    grid = wn.ScaleGrid(3, base)
    got = WF.lifting_conv1d(x, w, grid, order)
    if kernel_size == 1:  # pointwise at every scale
        expected = torch.einsum("oi,bit->bot", w[..., 0], x)[:, :, None].expand_as(got)
    else:
        expected = torch.from_numpy(reference_lifting(x.numpy(), w.numpy(), grid.scales, order))
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kernel_size", [2, 3, 7])
@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_factorized_equals_direct_float32(kernel_size, order, padding):
    x = torch.randn(2, 3, 300)
    lift_w = torch.randn(4, 3, kernel_size)
    grid = wn.ScaleGrid(4)
    a = WF.lifting_conv1d(x, lift_w, grid, order, padding=padding, method="factorized")
    b = WF.lifting_conv1d(x, lift_w, grid, order, padding=padding, method="direct")
    assert (a - b).norm() / b.norm() < 1e-5
    f = torch.randn(2, 3, 5, 300)
    gw = torch.randn(4, 3, 2, kernel_size)
    a = WF.group_conv1d(f, gw, 2.0, order, "truncate", padding=padding, method="factorized")
    b = WF.group_conv1d(f, gw, 2.0, order, "truncate", padding=padding, method="direct")
    assert (a - b).norm() / b.norm() < 1e-5


def test_group_conv_is_lifting_per_scale_slice():
    """Output scale j only sees input scales j .. j+M-1, with the kernel dilated by s_j."""
    f = torch.randn(1, 2, 5, 80, dtype=torch.float64)
    w = torch.randn(3, 2, 2, 5, dtype=torch.float64)
    out = WF.group_conv1d(f, w, 2.0, 2, "crop")
    for j in range(4):
        lifted = WF.lifting_conv1d(
            f[:, :, j : j + 2].reshape(1, 4, 80), w.reshape(3, 4, 5), wn.ScaleGrid(j + 1), 2
        )
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


def test_gradcheck_lifting():
    layer = wn.nn.LiftingConv1d(2, 2, 3, 3, bias=True).double()
    x = torch.randn(1, 2, 24, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w, b: WF.lifting_conv1d(x, w, layer.scales, 2, b), (x, layer.weight, layer.bias)
    )


@pytest.mark.parametrize("boundary", ["crop", "truncate"])
def test_gradcheck_group(boundary):
    x = torch.randn(1, 2, 4, 20, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w: WF.group_conv1d(x, w, 2.0, 2, boundary), (x, w))


def test_dtype_and_module_conversions():
    layer = wn.nn.GroupConv1d(2, 3, 3, 2).double()
    out = layer(torch.randn(1, 2, 3, 16, dtype=torch.float64))
    assert out.dtype == torch.float64


def test_repr_names_the_configuration():
    text = repr(wn.nn.GroupConv1d(2, 3, 5, 3, scale_boundary="truncate"))
    assert "scale_kernel_size=3" in text and "truncate" in text


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
    ],
)
def test_bad_configuration(make, match):
    with pytest.raises(ValueError, match=match):
        make()

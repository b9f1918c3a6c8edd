import math

import pytest

import wavelet_networks as wn


def test_scales():
    grid = wn.ScaleGrid(4)
    assert grid.scales == (1.0, 2.0, 4.0, 8.0)
    assert len(grid) == 4 and grid[3] == 8.0 and list(grid) == [1, 2, 4, 8]
    assert grid.is_integer and grid.dilation(3) == 8
    assert grid == wn.ScaleGrid(4, 2) and grid != wn.ScaleGrid(4, 3)


def test_non_integer_base():
    grid = wn.ScaleGrid(3, math.sqrt(2))
    assert not grid.is_integer
    assert grid.steps(2) == 2
    with pytest.raises(ValueError, match="not integers"):
        grid.dilation(1)
    with pytest.raises(ValueError, match="not a power"):
        grid.steps(3)


@pytest.mark.parametrize(
    ("num_scales", "base", "match"),
    [
        (0, 2.0, "num_scales"),
        (-1, 2.0, "num_scales"),
        (2.5, 2.0, "num_scales"),
        (3, 1.0, "base"),
        (3, 0.5, "base"),
        (3, -2.0, "base"),
        (3, float("nan"), "base"),
    ],
)
def test_errors(num_scales, base, match):
    with pytest.raises(ValueError, match=match):
        wn.ScaleGrid(num_scales, base)

"""The discretised dilation group."""

from __future__ import annotations

import math
from collections.abc import Iterator

__all__ = ["ScaleGrid"]


class ScaleGrid:
    """Scales ``s_j = base**j`` for ``j = 0 .. num_scales - 1``.

    The grid discretises the dilation group ``R+`` logarithmically, so a
    dilation of the input by ``base`` is a shift of the grid by one step.

    Args:
        num_scales: number of scales ``S >= 1``.
        base: ratio between neighbouring scales, ``> 1`` (2 is "dyadic").

    Example:
        >>> ScaleGrid(4).scales
        (1.0, 2.0, 4.0, 8.0)
    """

    def __init__(self, num_scales: int, base: float = 2.0) -> None:
        if isinstance(num_scales, bool) or not isinstance(num_scales, int):
            raise ValueError(f"num_scales must be an integer >= 1, got {num_scales!r}")
        if num_scales < 1:
            raise ValueError(f"num_scales must be >= 1, got {num_scales}")
        check_base(base)
        self.num_scales = num_scales
        self.base = float(base)

    @property
    def scales(self) -> tuple[float, ...]:
        """The scales ``(1, base, base**2, ...)``."""
        return tuple(self.base**j for j in range(self.num_scales))

    @property
    def is_integer(self) -> bool:
        """Whether every scale is an integer (the factorised fast form applies)."""
        return float(self.base).is_integer()

    def dilation(self, j: int) -> int:
        """The integer dilation of scale ``j``; raises if the base is not an integer."""
        if not self.is_integer:
            raise ValueError(f"scales of base {self.base} are not integers")
        return round(self.base) ** j

    def steps(self, factor: float) -> int:
        """Number of grid steps that a dilation by ``factor`` shifts the scale axis."""
        steps = math.log(factor) / math.log(self.base)
        if abs(steps - round(steps)) > 1e-9:
            raise ValueError(
                f"dilation factor {factor} is not a power of the grid base {self.base}"
            )
        return round(steps)

    def __len__(self) -> int:
        return self.num_scales

    def __getitem__(self, j: int) -> float:
        return self.scales[j]

    def __iter__(self) -> Iterator[float]:
        return iter(self.scales)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ScaleGrid)
            and other.num_scales == self.num_scales
            and other.base == self.base
        )

    def __hash__(self) -> int:
        return hash((self.num_scales, self.base))

    def __repr__(self) -> str:
        return f"ScaleGrid(num_scales={self.num_scales}, base={self.base:g})"


def check_base(base: float) -> None:
    """Raise a ValueError unless ``base`` is a finite number > 1."""
    if isinstance(base, bool) or not isinstance(base, (int, float)):
        raise ValueError(f"base must be a number > 1, got {base!r}")
    if not math.isfinite(base) or base <= 1:
        raise ValueError(f"base must be > 1 (dilation ratio between scales), got {base}")

"""Model-zoo tests: tests marked ``slow`` run only when asked for (``-m slow``)."""

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    if "slow" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(
        reason="slow (full-width wavelet nets at full length): run with -m slow"
    )
    for item in items:
        if "slow" in item.keywords and HERE in Path(str(item.fspath)).parents:
            item.add_marker(skip)

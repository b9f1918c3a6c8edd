import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _default_products(monkeypatch) -> None:
    """No choice by timing (functional._autotune): a test that runs something twice sees
    the same arithmetic both times. The tests of each choice force each candidate."""
    from wavelet_networks.functional import _autotune

    monkeypatch.setattr(_autotune, "ENABLED", False)


def pytest_collection_modifyitems(config, items):
    """Skip ``gpu`` tests without CUDA, and ``slow`` tests unless selected (``-m slow``)."""
    run_slow = "slow" in (config.getoption("-m") or "")
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    skip_slow = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)

import os

import pytest
import torch
from hypothesis import settings

# Property tests: a fixed set of drawn cases by default (the same in every run, as CI needs);
# HYPOTHESIS_PROFILE=explore draws new ones each run.
settings.register_profile("ci", max_examples=20, deadline=None, derandomize=True)
settings.register_profile("explore", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _default_products():
    """No choice by timing (functional.fast._autotune): a test that runs something twice
    sees the same arithmetic both times. The tests of each choice force each candidate.
    Every test starts from these settings and leaves them as it found them."""
    import wavelet_networks as wn

    with wn.configure(autotune=False):
        yield


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

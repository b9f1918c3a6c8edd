"""Fixtures: miniature copies of every data set layout, built once per session."""

from __future__ import annotations

import logging

import pytest
from data_fixtures import make_cwru, make_folder, make_magnatagatune, make_urbansound8k


@pytest.fixture(scope="session")
def us8k(tmp_path_factory):
    return make_urbansound8k(tmp_path_factory.mktemp("UrbanSound8K"))


@pytest.fixture(scope="session")
def mtat(tmp_path_factory):
    return make_magnatagatune(tmp_path_factory.mktemp("magnatagatune"), clips_per_dir=2)


@pytest.fixture(scope="session")
def cwru(tmp_path_factory):
    return make_cwru(tmp_path_factory.mktemp("cwru"))


@pytest.fixture(scope="session")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("own_audio"))


@pytest.fixture
def data_log(caplog):
    """caplog capturing the data modules' warnings."""
    caplog.set_level(logging.WARNING, logger="wavelet_networks.data")
    return caplog

"""The choice between interchangeable implementations by timing their first calls."""

import threading
import time

import pytest
import torch

import wavelet_networks as wn
from wavelet_networks.functional.fast import _autotune


@pytest.fixture(autouse=True)
def fresh():
    """Timing on, no settling calls, nothing chosen yet."""
    _autotune.reset()
    with wn.configure(autotune=True, autotune_settle=0):
        yield
    _autotune.reset()


def _calls():
    """Calls per candidate before the choice."""
    config = wn.settings.current()
    return config.autotune_warmup + config.autotune_trials


def _candidates(delays, calls):
    def make(i, delay):
        def candidate():
            calls.append(i)
            time.sleep(delay)
            return i

        return candidate

    return [make(i, delay) for i, delay in enumerate(delays)]


@pytest.mark.parametrize(
    "delays, fastest", [((0.004, 0.0), 1), ((0.0, 0.004), 0), ((0.004, 0.008, 0.0), 2)]
)
def test_takes_turns_then_keeps_the_fastest(delays, fastest):
    calls = []
    candidates = _candidates(delays, calls)
    results = [_autotune.run("key", candidates) for _ in range(_calls() * len(delays) + 5)]
    trials = _calls() * len(delays)
    assert sorted(calls[:trials]) == sorted(list(range(len(delays))) * _calls())
    assert calls[trials:] == [fastest] * 5
    assert results == calls  # every call's own result comes back
    assert _autotune.choices() == {"key": fastest}


def test_the_process_settles_on_the_first_candidate_then_keys_are_pending_until_chosen():
    with wn.configure(autotune_settle=3):
        calls = []
        candidates = _candidates((0.004, 0.0), calls)
        assert _autotune.pending() == 0
        for _ in range(3):
            _autotune.run("key", candidates)
        assert calls == [0, 0, 0] and _autotune.pending() == 1
        for _ in range(2 * _calls()):
            _autotune.run("key", candidates)
        assert _autotune.pending() == 0 and _autotune.choices() == {"key": 1}
        assert sorted(calls[3:]) == [0] * _calls() + [1] * _calls()
        mark = _autotune.calls()
        _autotune.run("other", candidates)
        assert _autotune.pending() == 1 and _autotune.pending(mark) == 1
        assert _autotune.pending(_autotune.calls()) == 0  # not called since


def test_first_calls_are_not_counted():
    calls = []
    slow_start = iter([0.02] * wn.settings.current().autotune_warmup)  # a set-up at first only

    def first():
        calls.append(0)
        time.sleep(next(slow_start, 0.0))

    def second():
        calls.append(1)
        time.sleep(0.004)

    for _ in range(2 * _calls() + 3):
        _autotune.run("key", [first, second])
    assert _autotune.choices() == {"key": 0}
    assert calls[-3:] == [0, 0, 0]


def test_keys_are_chosen_separately():
    calls = []
    slow_first, slow_second = _candidates((0.004, 0.0), calls), _candidates((0.0, 0.004), calls)
    for _ in range(2 * _calls()):
        _autotune.run("a", slow_first)
        _autotune.run("b", slow_second)
    assert _autotune.choices() == {"a": 1, "b": 0}


def test_forced_disabled_and_deterministic_run_a_given_candidate():
    calls = []
    candidates = _candidates((0.0, 0.0), calls)
    with _autotune.forced(1):
        assert [_autotune.run("k", candidates) for _ in range(8)] == [1] * 8
    with _autotune.forced(5):  # past the end: the last
        assert _autotune.run("k", candidates) == 1
    with wn.configure(autotune=False):
        assert [_autotune.run("k", candidates) for _ in range(8)] == [0] * 8
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        assert [_autotune.run("k", candidates) for _ in range(8)] == [0] * 8
    finally:
        torch.use_deterministic_algorithms(previous)
    assert _autotune.choices() == {}  # none of these timed anything


def test_threads_share_the_trials():
    calls = []
    candidates = _candidates((0.003, 0.0), calls)

    def worker():
        for _ in range(10):
            _autotune.run("shared", candidates)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _autotune.choices() == {"shared": 1}
    assert len(calls) == 40
    # no more trials than needed were started before the choice (at most one per thread extra)
    assert calls.count(0) <= _calls() + len(threads)

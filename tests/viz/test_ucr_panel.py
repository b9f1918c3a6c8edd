"""benchmarks/ucr_panel.py: ranks, summary and table (fast), and a tiny panel (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def panel(load_benchmark):
    return load_benchmark("ucr_panel")


def _compare(accs: dict[str, list[float]]) -> dict:
    return {"models": {m: {"acc": {"mean": float(np.mean(v)),
                                   "std": float(np.std(v, ddof=1)) if len(v) > 1 else None,
                                   "values": v},
                           "fit_time_s": {"mean": 2.0, "std": None, "values": [2.0]}}
                       for m, v in accs.items()}}


def test_mean_ranks_share_ties(panel) -> None:
    scores = np.array([[0.9, 0.8, 0.7], [0.5, 0.5, 0.9]])
    # row 1: ranks 1, 2, 3; row 2: 2.5, 2.5, 1
    assert panel.mean_ranks(scores).tolist() == [1.75, 2.25, 2.0]


def test_summary_and_table(panel) -> None:
    per = {"A": _compare({"w": [0.9, 0.8], "c": [0.7, 0.7], "mr": [0.95, 0.95]}),
           "B": _compare({"w": [0.6, 0.6], "c": [0.6, 0.6], "mr": [0.5, 0.5]}),
           "C": _compare({"w": [0.2, 0.2], "c": [0.3, 0.3], "mr": [0.4, 0.4]})}
    facts = {d: {"length": 10, "train": 5, "test": 6, "classes": 2} for d in per}
    s = panel.summarise(per, facts, "w", "c")
    assert s["wavelet_ahead_of_twin"] == {"count": 1, "of": 3, "datasets": ["A"],
                                          "tied": ["B"]}
    assert s["mean_rank"] == pytest.approx({"w": (2 + 1.5 + 3) / 3, "c": (3 + 1.5 + 2) / 3,
                                            "mr": (1 + 3 + 1) / 3})
    table = panel.format_panel({"summary": s, "per_dataset": per, "wavelet_model": "w",
                                "twin": "c", "seeds": [0, 1], "epochs": 5})
    assert "| A | 10 | 5 | 6 | 2 | 0.850 ± 0.071 | 0.700 ± 0.000 | 0.950 ± 0.000 | yes |" in table
    row_b = next(line for line in table.splitlines() if line.startswith("| B |"))
    assert row_b.endswith("| tie |")
    assert "w ahead of c on 1 of 3 data sets (ties: B)" in table


@pytest.mark.slow
def test_tiny_panel_runs_end_to_end(panel, tmp_path: Path) -> None:
    code = panel.main(["--datasets", "GunPoint,ItalyPowerDemand", "--seeds", "0", "--epochs",
                       "1", "--n_kernels", "84", "--out", str(tmp_path / "out"), "--run_root",
                       str(tmp_path / "runs"), "--progress_every", "0"])
    assert code == 0
    result = json.loads((tmp_path / "out" / "panel.json").read_text())
    assert result["summary"]["datasets"] == ["GunPoint", "ItalyPowerDemand"]
    assert set(result["summary"]["mean_rank"]) == {"w-small-cnn", "small-cnn", "minirocket"}
    assert (tmp_path / "out" / "panel_cd.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "runs" / "ucr" / "GunPoint" / "w-small-cnn").is_dir()


def test_critical_difference_tells_apart_only_a_consistent_winner(panel) -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.5, 0.8, size=10)
    # "a" beats "b" and "c" on all ten sets; "b" and "c" alternate.
    flip = np.where(np.arange(10) % 2 == 0, 0.01, -0.01)
    scores = np.stack([base + 0.1, base + flip, base - flip], axis=1)
    cd = panel.critical_difference(scores, ["a", "b", "c"])
    assert cd["friedman_p"] < 0.01 and cd["pair_level"] == pytest.approx(0.05)
    pairs = {(q["better"], q["worse"]): q for q in cd["pairs"]}
    assert set(pairs) == {("a", "b"), ("a", "c"), ("b", "c")}
    # one-sided exact Wilcoxon, 10 positive differences: p = 1 / 2**10
    assert pairs["a", "b"]["p"] == pytest.approx(1 / 1024)
    assert pairs["a", "b"]["told_apart"] and pairs["a", "c"]["told_apart"]
    assert pairs["b", "c"]["p"] > 0.3 and not pairs["b", "c"]["told_apart"]


def test_critical_difference_needs_the_friedman_test_first(panel) -> None:
    # "a" beats "b" on all six sets (pairwise p = 1/64 < 0.05), but "c" is best
    # on half the sets and worst on the others: mean ranks 1.5, 2.5, 2, Friedman
    # statistic 3.0, p = exp(-1.5) = 0.22: nothing is told apart.
    c_best = [0.7, 0.6, 0.9]
    c_worst = [0.7, 0.6, 0.5]
    scores = np.array([c_best] * 3 + [c_worst] * 3)
    cd = panel.critical_difference(scores, ["a", "b", "c"])
    assert cd["friedman_p"] == pytest.approx(np.exp(-1.5))
    pairs = {(q["better"], q["worse"]): q for q in cd["pairs"]}
    assert pairs["a", "b"]["p"] == pytest.approx(1 / 64)
    assert not any(q["told_apart"] for q in cd["pairs"])
    same = panel.critical_difference(np.array([[0.7, 0.7, 0.1], [0.6, 0.6, 0.2]]),
                                     ["a", "b", "c"])
    assert next(q for q in same["pairs"] if {q["better"], q["worse"]} == {"a", "b"})["p"] == 1.0


def test_datasets_option_takes_a_selection_or_names(panel) -> None:
    assert panel.dataset_names("cpu") == list(panel.CPU_DATASETS)
    assert panel.dataset_names("default") == list(panel.DEFAULT_DATASETS)
    assert panel.dataset_names(" GunPoint, ECG200,") == ["GunPoint", "ECG200"]
    assert len(set(panel.CPU_DATASETS)) == 10

"""Smoke test of the benchmark suite (``--quick``): it runs, writes JSON, renders markdown."""

import json

import pytest
import torch

from wavelet_networks import bench


def test_quick_benchmark_runs_and_renders(tmp_path):
    out = tmp_path / "results.json"
    assert bench.main(["--quick", "--repeats", "1", "--device", "cpu", "--output", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["quick"] and results["matmul"]["macs_per_s"] > 0
    assert {r["name"] for r in results["layers"]} >= {"W-M11 L(9,79,51)", "W-M11 G(3,3,51)"}
    assert results["models"]["ratio_wm11_over_m11"] > 0
    assert results["memory"]["bytes"] >= 0
    # every layer against a matmul measured right before it
    for row in results["layers"]:
        assert row["matmul"]["macs_per_s"] > 0 and row["forward_fraction_of_matmul"] > 0
    text = bench.render_markdown(results)
    assert "measured right before it" in text
    assert "W-M11 / M11 step-time ratio" in text and "| W-M11 G(3,3,51) |" in text
    # the process settings behind the numbers are recorded and shown
    from wavelet_networks import runtime
    from wavelet_networks.functional.fast import _native

    machine = results["machine"]
    assert machine["keep_freed_memory"] == runtime.keeps_freed_memory()
    assert machine["native_loops"] == (_native.library() is not None)
    assert "Process: " in text and "compiled loops" in text


def test_the_matmul_reference_is_the_faster_library():
    mm = bench.matmul_throughput(torch.device("cpu"), n=256, repeats=3)
    rates = mm["by_library"]
    assert "torch.mm" in rates and mm["macs_per_s"] == max(rates.values())
    assert mm["library"] == max(rates, key=rates.get)
    results = {
        "machine": {"cpu": "X", "cores": 2, "torch_threads": 2, "torch": "2", "device": "cpu"},
        "date": "2026-01-01",
        "matmul": mm,
    }
    text = bench.render_markdown(results)
    assert ("the faster of torch.mm" in text) == (len(rates) > 1)


def test_results_without_process_settings_still_render():
    """Results written before the settings were recorded render without a settings line."""
    results = {
        "machine": {"cpu": "X", "cores": 2, "torch_threads": 2, "torch": "2", "device": "cpu"},
        "date": "2026-01-01",
        "matmul": {"n": 64, "macs_per_s": 1e9},
    }
    assert "Process:" not in bench.render_markdown(results)


def test_models_have_the_reference_parameter_counts():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(bench.build_m11()) == 1_784_192
    wm11 = bench.build_wm11()
    assert count(wm11) == 1_806_369
    assert wm11(torch.randn(1, 1, 4096)).shape == (1, 10)


def test_layer_case_macs():
    case = bench.LayerCase("g", "group", 4, 6, 3, 3, (2, 4, 9, 100))
    assert case.macs() == 2 * 6 * 4 * 3 * 3 * 7 * 100
    assert case.build()(torch.randn(case.shape)).shape == (2, 6, 7, 100)


def test_layer_rates_from_given_times(monkeypatch):
    """Forward 0.5 s, forward+backward 2 s (wall; 1 s and 4 s of CPU) against a matmul of
    1 GMAC/s: 302,400 MACs forward, three times that with both gradients of a group layer."""
    times = iter([{"median_s": 0.5, "cpu_median_s": 1.0}, {"median_s": 2.0, "cpu_median_s": 4.0}])
    monkeypatch.setattr(bench, "time_fn", lambda *args, **kw: next(times))
    case = bench.LayerCase("g", "group", 4, 6, 3, 3, (2, 4, 9, 100))
    row = bench.bench_layer(case, torch.device("cpu"), 1, peak=1e9, peak_cpu=1e9)
    assert row["forward_macs_per_s"] == pytest.approx(604_800)
    assert row["forward_fraction_of_matmul"] == pytest.approx(6.048e-4)
    assert row["forward_backward_macs_per_s"] == pytest.approx(453_600)
    assert row["forward_backward_fraction_of_matmul"] == pytest.approx(4.536e-4)
    assert row["forward_cpu_fraction_of_matmul"] == pytest.approx(3.024e-4)
    assert row["forward_backward_cpu_fraction_of_matmul"] == pytest.approx(2.268e-4)

"""Benchmarks of the lifting and group convolutions and of whole training steps.

Run ``python -m wavelet_networks.bench`` (or ``wavelet-networks bench``, or
``python benchmarks/bench_layers.py``). Every number is the median of repeated
timed runs after a warm-up, measured on the machine it runs on:

- forward and forward+backward time of :class:`~wavelet_networks.nn.LiftingConv1d`
  and :class:`~wavelet_networks.nn.GroupConv1d` at the shapes of W-M11 and
  W-SampleCNN, with the multiply-accumulates per second they achieve and that
  rate as a fraction of a large dense float32 matmul measured right before
  each layer (a shared machine's speed drifts over a run; on the CPU the
  faster of MKL's and oneDNN's, see :func:`matmul_throughput`);
- a whole W-M11 and M11 training step (batch 8, 88,200 samples, Adam) and
  their ratio, measured in the same run;
- the peak memory of W-M11 training steps (CPU: growth of the resident set's
  high-water mark in a fresh subprocess; CUDA: ``torch.cuda.max_memory_allocated``).

Results go to a JSON file; :func:`render_markdown` turns that JSON into the
"Current results" section of docs/performance.md. ``--quick`` shrinks every shape and repeat count
so that the whole run takes well under a minute (a smoke test).

The multiply-accumulate count of a layer is the nominal one of its factorised
form, ``batch * C_out * C_in * M * K * scales_out * time_out`` (the B-spline
smoothing is not counted); a fast path that needs fewer operations (FFT) can
therefore exceed 100% of the matmul rate.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from wavelet_networks._machine import cpu_name
from wavelet_networks.functional.fast import _autotune, _matmul, _native
from wavelet_networks.runtime import keeps_freed_memory

__all__ = [
    "LayerCase",
    "build_m11",
    "build_wm11",
    "layer_cases",
    "main",
    "render_markdown",
    "run",
]


# --------------------------------------------------------------------------- models
def build_m11(num_classes: int = 10) -> nn.Module:
    """M11 of Dai et al. (2016) from the model zoo (1,784,192 parameters)."""
    from wavelet_networks.models import build

    return build("m11", num_classes=num_classes)


def build_wm11(num_classes: int = 10) -> nn.Module:
    """W-M11 from the model zoo (1,806,369 parameters): the network users train.

    ``L(9, 79, 51)``, P(4), BN, ReLU, P(4) (one fused stem); stages 51,51 | 102,102 |
    204 x3 | 408 x2 whose first layer is ``G(3, 3, .)`` (crop) and the others
    ``G(1, 3, .)``; P(4) between stages; head: time mean, ``G(1, 1, classes)``,
    max over scales.
    """
    from wavelet_networks.models import build

    return build("w-m11", num_classes=num_classes)


# --------------------------------------------------------------------------- layer cases
@dataclass(frozen=True)
class LayerCase:
    """One layer at one input shape.

    Attributes:
        name: short label, e.g. ``"W-M11 L(9,79,51)"``.
        kind: "lifting", "lifting+pool" (fused with the max pool that follows
            it in W-M11 and W-SampleCNN), "stem" (W-M11's whole first block,
            lifting, P(4), BN, ReLU, P(4), fused) or "group".
        in_channels, out_channels, kernel_size: as in the layer.
        scale_kernel_size: ``M`` (group layers; 1 for lifting).
        shape: input shape, ``(B, C, T)`` or ``(B, C, S, T)``.
        num_scales: lifting only: scales of the grid.
        pool: "lifting+pool" only: the max pool over time.
    """

    name: str
    kind: str
    in_channels: int
    out_channels: int
    kernel_size: int
    scale_kernel_size: int
    shape: tuple[int, ...]
    num_scales: int = 1
    pool: int = 4

    def build(self) -> nn.Module:
        import wavelet_networks as wn

        if self.kind == "stem":
            return wn.nn.LiftingStem(
                self.in_channels, self.out_channels, self.kernel_size, self.num_scales,
                (self.pool, self.pool),
            )  # fmt: skip
        if self.kind == "lifting+pool":
            return wn.nn.LiftingConvMaxPool1d(
                self.in_channels, self.out_channels, self.kernel_size, self.num_scales, self.pool
            )
        if self.kind == "lifting":
            return wn.nn.LiftingConv1d(
                self.in_channels, self.out_channels, self.kernel_size, self.num_scales
            )
        return wn.nn.GroupConv1d(
            self.in_channels, self.out_channels, self.kernel_size, self.scale_kernel_size
        )

    def macs(self) -> int:
        """Nominal multiply-accumulates of one forward pass (factorised form, "same" padding).

        The fused lifting + pool and the stem count the lifting's
        multiply-accumulates, as the unfused layer: pools, batch norm and ReLU
        are free and the Toeplitz products' extra arithmetic is overhead, not work.
        """
        if self.kind.startswith("lifting") or self.kind == "stem":
            b, c, t = self.shape
            scales = self.num_scales
        else:
            b, c, s, t = self.shape
            scales = s - self.scale_kernel_size + 1
        return b * self.out_channels * c * self.scale_kernel_size * self.kernel_size * scales * t


def layer_cases(quick: bool = False) -> list[LayerCase]:
    """The layers of W-M11 (batch 8, 88,200 samples) and W-SampleCNN (batch 23, 59,049)."""
    if quick:
        return [
            LayerCase("W-M11 stem", "stem", 1, 51, 79, 1, (2, 1, 4096), 9),
            LayerCase("W-M11 L(9,79,51)+P(4)", "lifting+pool", 1, 51, 79, 1, (1, 1, 4096), 9),
            LayerCase("W-M11 L(9,79,51)", "lifting", 1, 51, 79, 1, (1, 1, 4096), 9),
            LayerCase("W-M11 G(3,3,51)", "group", 51, 51, 3, 3, (1, 51, 9, 512)),
            LayerCase("W-SampleCNN L(9,3,90)", "lifting", 1, 90, 3, 1, (1, 1, 2187), 9),
        ]
    return [
        LayerCase("W-M11 stem L(9,79,51) P BN ReLU P", "stem", 1, 51, 79, 1, (8, 1, 88200), 9),
        LayerCase("W-M11 L(9,79,51)+P(4)", "lifting+pool", 1, 51, 79, 1, (8, 1, 88200), 9),
        LayerCase("W-M11 L(9,79,51)", "lifting", 1, 51, 79, 1, (8, 1, 88200), 9),
        LayerCase("W-M11 G(3,3,51)", "group", 51, 51, 3, 3, (8, 51, 9, 5512)),
        LayerCase("W-M11 G(1,3,51)", "group", 51, 51, 3, 1, (8, 51, 7, 5512)),
        LayerCase("W-M11 G(3,3,102)", "group", 51, 102, 3, 3, (8, 51, 7, 1378)),
        LayerCase("W-M11 G(3,3,204)", "group", 102, 204, 3, 3, (8, 102, 5, 344)),
        LayerCase("W-SampleCNN L(9,3,90)+P(3)", "lifting+pool", 1, 90, 3, 1, (23, 1, 59049), 9, 3),
        LayerCase("W-SampleCNN L(9,3,90)", "lifting", 1, 90, 3, 1, (23, 1, 59049), 9),
        LayerCase("W-SampleCNN G(3,3,90)", "group", 90, 90, 3, 3, (23, 90, 9, 19683)),
        LayerCase("W-SampleCNN G(1,3,90)", "group", 90, 90, 3, 1, (23, 90, 7, 6561)),
    ]


# --------------------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


TUNING_RUNS = 40


def warm_up_tuning(fn: Callable[[], object]) -> int:
    """Run ``fn`` until the products it calls have chosen their implementation (at most
    ``TUNING_RUNS`` times, at least once); returns the runs."""
    for runs in range(1, TUNING_RUNS + 1):
        mark = _autotune.calls()
        fn()
        if not _autotune.pending(mark):
            return runs
    return TUNING_RUNS


def time_fn(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1) -> dict:
    """Wall time (median, min, max; seconds) of ``fn`` over ``repeats`` runs after ``warmup``.

    Also the median process CPU time (all threads): on a shared, oversubscribed
    machine it is far less sensitive to other processes than the wall time.
    The warm-up goes on (up to ``TUNING_RUNS`` more runs) while the products
    that ``fn`` calls are still choosing their implementation
    (:mod:`~wavelet_networks.functional.fast._autotune`): what is timed is the
    steady state of a training run.
    """
    mark = _autotune.calls()
    for _ in range(warmup):
        fn()
    if _autotune.pending(mark):
        warm_up_tuning(fn)
    _sync(device)
    times, cpu = [], []
    for _ in range(repeats):
        _sync(device)
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "cpu_median_s": statistics.median(cpu),
        "repeats": repeats,
    }


def matmul_throughput(device: torch.device, n: int = 4096, repeats: int = 5) -> dict:
    """Dense float32 ``n x n`` matmul: median time and multiply-accumulates per second.

    On the CPU, the faster of MKL's (``torch.mm``) and oneDNN's product (which
    the layers may choose, see :mod:`~wavelet_networks.functional.fast._matmul`): on
    AMD processors MKL runs AVX2 code at about half the speed oneDNN reaches,
    and a reference that slow would overstate every layer's fraction of it.
    ``by_library`` holds each one's rate.
    """
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    runs: dict[str, Callable[[], object]] = {"torch.mm": lambda: a @ b}
    if device.type == "cpu" and _matmul.onednn_available(a):
        bt = b.t().contiguous()
        runs["onednn"] = lambda: _matmul.linear(a, bt)
    timed = {name: time_fn(fn, device, repeats, warmup=2) for name, fn in runs.items()}
    best = min(timed, key=lambda name: timed[name]["median_s"])
    t = timed[best]
    return {
        "n": n,
        **t,
        "library": best,
        "macs_per_s": n**3 / t["median_s"],
        "macs_per_cpu_s": n**3 / t["cpu_median_s"],
        "by_library": {name: n**3 / timed[name]["median_s"] for name in timed},
    }


def bench_layer(
    case: LayerCase, device: torch.device, repeats: int, peak: float, peak_cpu: float | None = None
) -> dict:
    """Forward and forward+backward (input and weight gradients) of one layer."""
    layer = case.build().to(device)
    x = torch.randn(case.shape, device=device)
    needs_input_grad = case.kind == "group"  # a lifting layer is the first layer of a network
    xg = x.clone().requires_grad_(needs_input_grad)

    def forward() -> None:
        with torch.no_grad():
            layer(x)

    def forward_backward() -> None:
        layer.zero_grad(set_to_none=True)
        out = layer(xg)
        out.backward(torch.ones_like(out))

    fwd = time_fn(forward, device, repeats)
    fb = time_fn(forward_backward, device, repeats)
    macs = case.macs()
    # forward + weight gradient (+ input gradient for group layers) each cost `macs`
    train_macs = macs * (3 if needs_input_grad else 2)
    return {
        "name": case.name,
        "shape": list(case.shape),
        "macs": macs,
        "forward": fwd,
        "forward_backward": fb,
        "forward_macs_per_s": macs / fwd["median_s"],
        "forward_backward_macs_per_s": train_macs / fb["median_s"],
        "forward_fraction_of_matmul": macs / fwd["median_s"] / peak,
        "forward_backward_fraction_of_matmul": train_macs / fb["median_s"] / peak,
        # the same per CPU-second (process time): robust when other processes share the cores
        "forward_cpu_fraction_of_matmul": macs / fwd["cpu_median_s"] / peak_cpu
        if peak_cpu
        else None,
        "forward_backward_cpu_fraction_of_matmul": train_macs / fb["cpu_median_s"] / peak_cpu
        if peak_cpu
        else None,
    }


def _training_step(model: nn.Module, x: Tensor, y: Tensor) -> Callable[[], None]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return step


def bench_models(device: torch.device, repeats: int, batch: int, length: int) -> dict:
    """W-M11 and M11 training steps (Adam) at the same batch and length, and their ratio.

    The two models' steps alternate (M11, W-M11, M11, ...) so that both see the
    same machine load; the ratio is that of the two medians.
    """
    x = torch.randn(batch, 1, length, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    out: dict = {"batch": batch, "length": length}
    steps = {}
    for name, build in (("M11", build_m11), ("W-M11", build_wm11)):
        model = build().to(device).train()
        out[name] = {"params": sum(p.numel() for p in model.parameters())}
        steps[name] = _training_step(model, x, y)
        steps[name]()  # warm-up
        out[name]["tuning_steps"] = warm_up_tuning(steps[name])
    times: dict[str, list[dict]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            times[name].append(time_fn(step, device, 1, warmup=0))
    for name, ts in times.items():
        wall = [t["median_s"] for t in ts]
        out[name]["train_step"] = {
            "median_s": statistics.median(wall),
            "min_s": min(wall),
            "max_s": max(wall),
            "cpu_median_s": statistics.median(t["cpu_median_s"] for t in ts),
            "repeats": repeats,
        }
    wm11, m11 = out["W-M11"]["train_step"], out["M11"]["train_step"]
    out["ratio_wm11_over_m11"] = wm11["median_s"] / m11["median_s"]
    out["cpu_ratio_wm11_over_m11"] = wm11["cpu_median_s"] / m11["cpu_median_s"]
    return out


_MEMORY_SCRIPT = """
import sys, torch
from wavelet_networks.bench import build_wm11, _training_step
from wavelet_networks.runtime import keep_freed_memory
batch, length, device = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if sys.argv[4] == "1":  # as the parent process
    keep_freed_memory()
torch.manual_seed(0)
model = build_wm11().to(device).train()
x = torch.randn(batch, 1, length, device=device)
y = torch.randint(0, 10, (batch,), device=device)
step = _training_step(model, x, y)
def status(key):  # KiB, from /proc/self/status
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
before = status("VmRSS")
if device.startswith("cuda"):
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
step()
step()
after = status("VmHWM")
if device.startswith("cuda"):
    peak = torch.cuda.max_memory_allocated() - base
else:
    peak = (after - before) * 1024
print(peak)
"""


def peak_memory(device: torch.device, batch: int, length: int) -> dict:
    """Peak memory (bytes) of W-M11 training steps, measured in a fresh subprocess.

    The growth over what model and batch hold, during two steps (the first
    also allocates the optimiser state, 2 floats per parameter, 14 MB). CPU:
    high-water mark of the resident set (``VmHWM``) minus the resident set
    before the first step; not ``ru_maxrss``, which Linux carries over from the
    parent through fork and exec, so that it reported the benchmark process's
    own peak. CUDA: ``max_memory_allocated`` minus what is allocated before it starts.
    """
    src = str(Path(__file__).resolve().parents[1])
    env_path = src + (":" + sys.path[0] if sys.path[0] else "")
    keep = "1" if keeps_freed_memory() else "0"
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(batch), str(length), str(device), keep],
        capture_output=True,
        text=True,
        check=True,
        env={**_environ(), "PYTHONPATH": env_path},
    )
    value = int(result.stdout.strip().splitlines()[-1])
    method = "cuda.max_memory_allocated" if device.type == "cuda" else "VmHWM growth"
    return {"bytes": value, "method": method, "batch": batch, "length": length}


def _environ() -> dict:
    import os

    return dict(os.environ)


def machine_description(device: torch.device) -> dict:
    """CPU model, cores, threads, torch version; the GPU's name on CUDA."""
    cpu = cpu_name()
    import os

    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "keep_freed_memory": keeps_freed_memory(),
        "native_loops": _native.library() is not None,
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


# --------------------------------------------------------------------------- entry points
def run(
    device: str = "cpu",
    quick: bool = False,
    repeats: int | None = None,
    models: bool = True,
    memory: bool = True,
    layers: bool = True,
    log: Callable[[str], None] | None = print,
) -> dict:
    """Run the whole suite on ``device`` and return the results as a JSON-ready dict."""
    dev = torch.device(device)
    say = log or (lambda _: None)
    reps = repeats if repeats is not None else (2 if quick else 5)
    torch.manual_seed(0)
    results: dict = {
        "machine": machine_description(dev),
        "quick": quick,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    mm = matmul_throughput(dev, n=1024 if quick else 4096, repeats=reps)
    results["matmul"] = mm
    say(f"matmul {mm['n']}^3: {mm['macs_per_s'] / 1e9:.1f} GMAC/s{_libraries(mm)}")
    # the headline first, before the layer cases leave the allocator and the OS with
    # gigabytes to hand back (the fused stem measured up to a third slower right after
    # the unfused lifting case)
    batch, length = (1, 8192) if quick else (8, 88200)
    if models:
        m = bench_models(dev, reps if not quick else 1, batch, length)
        results["models"] = m
        say(
            f"train step M11 {m['M11']['train_step']['median_s']:.3f} s, "
            f"W-M11 {m['W-M11']['train_step']['median_s']:.3f} s, "
            f"ratio {m['ratio_wm11_over_m11']:.2f}"
        )
    if layers:
        results["layers"] = []
        for case in layer_cases(quick):
            # the reference measured right before the layer: this machine's speed drifts
            # over a run (shared host), which moved the start-of-run reference by a third
            ref = matmul_throughput(dev, n=1024 if quick else 4096, repeats=3)
            r = bench_layer(case, dev, reps, ref["macs_per_s"], ref["macs_per_cpu_s"])
            r["matmul"] = ref
            results["layers"].append(r)
            say(
                f"{case.name:24s} fwd {r['forward']['median_s'] * 1e3:9.1f} ms "
                f"fwd+bwd {r['forward_backward']['median_s'] * 1e3:9.1f} ms "
                f"fwd {100 * r['forward_fraction_of_matmul']:5.1f}% of matmul"
            )
    if memory:
        results["memory"] = peak_memory(dev, batch, length)
        say(f"W-M11 train step peak memory {results['memory']['bytes'] / 2**20:.0f} MiB")
    return results


def _libraries(mm: dict) -> str:
    """Each library's matmul rate, as text ('' where only one is measured)."""
    rates = mm.get("by_library", {})
    if len(rates) < 2:
        return ""
    parts = ", ".join(f"{name} {rate / 1e9:.1f}" for name, rate in rates.items())
    return f" (the faster of {parts})"


def _layer_references(results: dict) -> str:
    """How the per-layer matmul references ranged, as text ('' for older results)."""
    refs = [r["matmul"]["macs_per_s"] / 1e9 for r in results.get("layers", []) if "matmul" in r]
    if not refs:
        return ""
    return (
        f" at the start of the run; each layer's % of matmul is against a matmul measured "
        f"right before it ({min(refs):.1f} to {max(refs):.1f} GMAC/s)"
    )


def _pct(row: dict, key: str, results: dict) -> str:
    """A CPU-time fraction of the matmul rate, as text (derived if the JSON predates the field)."""
    value = row.get(key)
    if value is None and "cpu_median_s" in results["matmul"]:
        peak = results["matmul"]["n"] ** 3 / results["matmul"]["cpu_median_s"]
        if key.startswith("forward_cpu"):
            value = row["macs"] / row["forward"]["cpu_median_s"] / peak
        else:
            fb = row["forward_backward"]
            value = row["forward_backward_macs_per_s"] * fb["median_s"] / fb["cpu_median_s"] / peak
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _settings(machine: dict) -> str:
    """The process settings a run had (absent from results files that do not record them)."""
    parts = []
    if "keep_freed_memory" in machine:
        parts.append(
            "freed memory kept for reuse (`wavelet_networks.runtime.keep_freed_memory`)"
            if machine["keep_freed_memory"]
            else "the system allocator's defaults"
        )
    if "native_loops" in machine:
        parts.append(
            "compiled loops (`functional/fast/_native.c`)"
            if machine["native_loops"]
            else "no compiled loops (torch operations)"
        )
    return f" Process: {', '.join(parts)}." if parts else ""


def render_markdown(results: dict) -> str:
    """The "Current results" section of docs/performance.md (markdown) from a results dict (see :func:`run`)."""
    m = results["machine"]
    lines = [
        "## Current results",
        "",
        f"Measured on {m['cpu']} ({m['cores']} cores, {m['torch_threads']} torch threads"
        + (f", GPU {m['gpu']}" if "gpu" in m else "")
        + f"), PyTorch {m['torch']}, device `{m['device']}`, {results['date']}"
        + (" (quick run: reduced shapes)" if results.get("quick") else "")
        + "."
        + _settings(m),
        f"Dense float32 matmul ({results['matmul']['n']}^3): "
        f"{results['matmul']['macs_per_s'] / 1e9:.1f} GMAC/s (wall)"
        + _libraries(results["matmul"])
        + _layer_references(results)
        + ". Times are medians. "
        "CPU columns are process CPU time (all threads), robust when other processes share "
        "the cores; % of matmul compares nominal multiply-accumulates per second with the "
        "matmul's, per wall second and per CPU second.",
        "",
    ]
    if "layers" in results:
        lines += [
            "| layer | input shape | forward (ms) | fwd+bwd (ms) | fwd+bwd CPU (ms) | fwd GMAC/s | fwd % of matmul (wall / CPU) | fwd+bwd % of matmul (wall / CPU) |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in results["layers"]:
            lines.append(
                f"| {r['name']} | {tuple(r['shape'])} | {r['forward']['median_s'] * 1e3:.1f} | "
                f"{r['forward_backward']['median_s'] * 1e3:.1f} | "
                f"{r['forward_backward'].get('cpu_median_s', float('nan')) * 1e3:.1f} | "
                f"{r['forward_macs_per_s'] / 1e9:.1f} | "
                f"{100 * r['forward_fraction_of_matmul']:.0f}% / {_pct(r, 'forward_cpu_fraction_of_matmul', results)} | "
                f"{100 * r['forward_backward_fraction_of_matmul']:.0f}% / {_pct(r, 'forward_backward_cpu_fraction_of_matmul', results)} |"
            )
        lines.append("")
    if "models" in results:
        md = results["models"]
        lines += [
            f"Training step (Adam, batch {md['batch']}, {md['length']} samples):",
            "",
            "| model | parameters | step, wall (s) | step, CPU (s) |",
            "|---|---:|---:|---:|",
            *(
                f"| {name} | {md[name]['params']:,} | {md[name]['train_step']['median_s']:.2f} | "
                f"{md[name]['train_step'].get('cpu_median_s', float('nan')):.2f} |"
                for name in ("M11", "W-M11")
            ),
            "",
            f"W-M11 / M11 step-time ratio: **{md['ratio_wm11_over_m11']:.1f}** (wall), "
            f"{md.get('cpu_ratio_wm11_over_m11', float('nan')):.1f} (process CPU time).",
            "",
        ]
    if "memory" in results:
        mem = results["memory"]
        lines += [
            f"Peak memory of a W-M11 training step ({mem['method']}): "
            f"{mem['bytes'] / 2**30:.2f} GiB.",
            "",
        ]
    return "\n".join(lines)


def _default_output(device: str) -> Path:
    name = platform.node() or "machine"
    return Path("benchmarks") / "results" / f"{name}-{device.replace(':', '')}.json"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry (``wavelet-networks bench``): run, write JSON, print markdown."""
    parser = argparse.ArgumentParser(
        prog="wavelet-networks bench",
        description=__doc__.split("\n")[0],
        epilog="examples:\n  wavelet-networks bench --quick\n"
        "  wavelet-networks bench --repeats 3 --output bench.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--device", default=None, help="cpu, cuda or cuda:N (default: cpu, and cuda if present)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small shapes, few repeats (< 1 minute)"
    )
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per measurement")
    parser.add_argument("--output", type=Path, default=None, help="JSON file to write")
    parser.add_argument(
        "--no-models", action="store_true", help="skip the whole-model training steps"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--no-layers", action="store_true", help="skip the per-layer measurements")
    parser.add_argument(
        "--markdown", type=Path, default=None, help="render this JSON file and exit"
    )
    args = parser.parse_args(argv)
    if args.markdown is not None:
        print(render_markdown(json.loads(args.markdown.read_text())))
        return 0
    devices = (
        [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    )
    for device in devices:
        results = run(
            device,
            quick=args.quick,
            repeats=args.repeats,
            models=not args.no_models,
            memory=not args.no_memory,
            layers=not args.no_layers,
        )
        output = args.output if args.output and len(devices) == 1 else _default_output(device)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=2) + "\n")
        print(f"results written to {output}\n")
        print(render_markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

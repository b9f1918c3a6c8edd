"""Helpers and fixtures of the fault-injection tests: running the CLI, tiny fits, comparing runs.

Runs are tiny (ACSF1 with 3 series per class, 8 per batch, 2-3 epochs) and go
through the real CLI, in a subprocess where exit codes and signals matter.
``faults.py`` beside this file holds the callbacks the subprocesses load by
class path (``--trainer.callbacks+=faults.KillAt``). There is no ``conftest.py``
here: it would be imported as the module ``conftest`` and could shadow the one
``tests/cli`` imports by that name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"

#: A tiny fit of the default model with the packaged default config (Adam, cosine schedule).
TINY = [
    "--config", "default", "--model.model_name", "w-small-cnn",
    "--data.limit_per_class", "3", "--data.batch_size", "8", "--trainer.max_epochs", "3",
    "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(HERE), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"  # one thread: bit-identical arithmetic between runs
    env.pop("WAVELET_NETWORKS_DEBUG", None)
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "wavelet_networks", *args]


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m wavelet_networks ARGS`` in a fresh process (real exit code, stderr)."""
    return subprocess.run(cli_command(*args), capture_output=True, text=True, cwd=cwd,
                          env=cli_env(), timeout=timeout)


def fit_args(run_root: Path, *extra: str) -> list[str]:
    return ["fit", *TINY, "--run_root", str(run_root), *extra]


def run_dir_of(run_root: Path, model: str = "w-small-cnn") -> Path:
    return run_root / "acsf1" / model / "fold-none" / "seed-0"


def trace_args(path: Path) -> list[str]:
    return ["--trainer.callbacks+=faults.TraceSteps", "--trainer.callbacks.path", str(path)]


def kill_args(epoch: int, batch: int = 0, where: str = "batch",
              signal_name: str = "SIGKILL") -> list[str]:
    return ["--trainer.callbacks+=faults.KillAt", "--trainer.callbacks.epoch", str(epoch),
            "--trainer.callbacks.batch", str(batch), "--trainer.callbacks.where", where,
            "--trainer.callbacks.signal_name", signal_name]


def one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """The single ``error:`` line on stderr (asserted), checked for ``needles``."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def error_line(stderr: str, *needles: str) -> str:
    """The single ``error:`` line of an in-process ``main()`` call's stderr, checked for ``needles``.

    (In-process runs can also print logging noise from handlers that still point
    at an earlier test's captured stream; subprocess runs check for one line only.)
    """
    errors = [ln for ln in stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, stderr[-3000:]
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def weights(ckpt: Path) -> dict:
    import torch

    return torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]


def same_weights(a: Path, b: Path) -> bool:
    import torch

    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def reference_run(root: Path) -> dict:
    """An uninterrupted tiny fit in ``root``: its run directory and its per-step trace."""
    trace = root / "steps.trace"
    proc = run_cli(*fit_args(root, *trace_args(trace)), cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"run_dir": run_dir_of(root), "trace": trace.read_text().splitlines()}


def code_running_checkpoint(folder: Path) -> tuple[Path, Path]:
    """``(checkpoint file whose unpickling creates a file, that file)``: a code-running pickle."""
    import torch

    witness = folder / "code-ran"

    class SideEffect:
        def __reduce__(self):
            return (os.system, (f"touch {witness}",))

    ckpt = folder / "model.ckpt"
    torch.save({"state_dict": {}, "wavelet_networks": {"x": SideEffect()}}, ckpt)
    return ckpt, witness


def write_wav(path: Path, freq: float, seconds: float = 0.25, rate: int = 8000,
              value: float | None = None) -> Path:
    """A sine of ``freq`` Hz (or a constant ``value``, NaN allowed) as a float32 wav."""
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    x = np.full_like(t, value) if value is not None else 0.5 * np.sin(2 * np.pi * freq * t)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x.astype(np.float32), rate, subtype="FLOAT")
    return path


def make_audio_folder(root: Path, per_class: int = 4, classes=("low", "high")) -> dict[str, str]:
    """``root/<class>/<class>_<i>.wav``; returns ``{relative path: class}``."""
    files = {}
    for c, label in enumerate(classes):
        for i in range(per_class):
            rel = f"{label}/{label}_{i}.wav"
            write_wav(root / rel, freq=200.0 * (1 + 4 * c) + 10 * i)
            files[rel] = label
    return files

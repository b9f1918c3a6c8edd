"""Fixtures of the fault-injection tests (helpers: ``faultlib.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from faultlib import fit_args, run_cli, run_dir_of, trace_args


@pytest.fixture(scope="session")
def reference(tmp_path_factory) -> dict:
    """An uninterrupted tiny fit: its run directory and its per-step trace."""
    root = tmp_path_factory.mktemp("reference")
    trace = root / "steps.trace"
    proc = run_cli(*fit_args(root, *trace_args(trace)), cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"run_dir": run_dir_of(root), "trace": trace.read_text().splitlines()}


@pytest.fixture
def evil_checkpoint(tmp_path_factory) -> tuple[Path, Path]:
    """``(checkpoint file whose unpickling creates a file, that file)``: a code-running pickle."""
    import torch

    folder = tmp_path_factory.mktemp("evil")
    witness = folder / "code-ran"

    class SideEffect:
        def __reduce__(self):
            return (os.system, (f"touch {witness}",))

    ckpt = folder / "model.ckpt"
    torch.save({"state_dict": {}, "wavelet_networks": {"x": SideEffect()}}, ckpt)
    return ckpt, witness

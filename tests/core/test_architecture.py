"""The structure the code keeps: the reference apart from the fast paths, one dispatcher, one
place for the settings, comments without history."""

from __future__ import annotations

import ast
import io
import re
import threading
import tokenize
from pathlib import Path

import pytest
import torch

import wavelet_networks as wn
from wavelet_networks.functional import OPERATIONS

SRC = Path(wn.__file__).parent


def _module_file(name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != "wavelet_networks":
        return None
    base = SRC.joinpath(*parts[1:])
    if base.with_suffix(".py").exists():
        return base.with_suffix(".py")
    if (base / "__init__.py").exists():
        return base / "__init__.py"
    return None


def _imports(path: Path, package: str) -> set[str]:
    """The modules ``path`` imports (anywhere in it, relative ones resolved)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names if _module_file(f"{base}.{alias.name}")}
    return found


def _closure(module: str) -> set[str]:
    """Every module of the package that ``module`` imports, directly or through others
    (not counting the ``__init__`` of the packages they sit in, which Python runs first)."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name)
        if path is None:
            continue
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        todo += [m for m in _imports(path, package) if m.startswith("wavelet_networks")]
    return {m for m in seen if _module_file(m) is not None} - {module}


def test_the_reference_depends_on_the_mathematics_alone():
    deps = _closure("wavelet_networks.functional.reference")
    assert not {m for m in deps if m.startswith("wavelet_networks.functional.fast")}
    assert deps == {
        "wavelet_networks._validation",
        "wavelet_networks.grid",
        "wavelet_networks.splines",
    }


def test_the_import_check_sees_an_import_of_the_fast_paths(tmp_path, monkeypatch):
    """The closure above follows imports into other modules, relative ones included."""
    deps = _closure("wavelet_networks.functional.fast.stem")
    assert "wavelet_networks.functional.fast.pooled" in deps
    assert "wavelet_networks.functional.fast._native" in deps  # through pooled, relative or not


def test_reference_mode_runs_no_fast_implementation(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a fast implementation ran in reference mode")

    for op in OPERATIONS.values():
        monkeypatch.setattr(op, "implementations", [
            type(impl)(impl.name, refuse, lambda *a, **k: True) for impl in op.implementations
        ])  # fmt: skip
    model = wn.models.build("w-m5", 10, channels=4)
    x = torch.randn(2, 1, model.min_length)
    with wn.reference_mode():
        model(x).sum().backward()
    with pytest.raises(AssertionError, match="reference mode"):
        model(x)


def test_settings_are_restored_after_a_block_and_kept_after_a_call():
    before = wn.settings.current()
    with wn.configure(native=False, product_rows=1024) as inside:
        assert inside.native is False and wn.settings.current().product_rows == 1024
        with wn.reference_mode():
            assert wn.settings.current().reference and not wn.settings.current().native
        assert not wn.settings.current().reference
    assert wn.settings.current() == before
    try:
        wn.configure(window_gradient=False)
        assert wn.settings.current().window_gradient is False
    finally:
        wn.configure(window_gradient=before.window_gradient)
    assert wn.settings.current() == before


def test_settings_are_the_same_in_every_thread():
    seen = []
    with wn.configure(threads=False):
        thread = threading.Thread(target=lambda: seen.append(wn.settings.current().threads))
        thread.start()
        thread.join()
    assert seen == [False]


def test_no_module_level_tuning_switches_in_the_fast_paths():
    """Thresholds and switches live in wavelet_networks.settings: the fast paths' modules
    define no mutable module globals besides their constants (upper case, fixed)."""
    names = {}
    for path in (SRC / "functional" / "fast").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Name):
                        names.setdefault(path.name, []).append(t.id)
    switches = {"ITEMWISE", "WINDOW_GRADIENT", "PRODUCT_BACKWARD_TIME", "PRODUCT_CHANNELS",
                "PRODUCT_OUTPUT", "POOL_MIN_ITEM", "MIN_ITEM", "ROWS", "Y_BYTES", "ENABLED",
                "SETTLE", "WARMUP", "TRIALS", "_enabled", "_forced"}  # fmt: skip
    found = {(f, n) for f, ns in names.items() for n in ns if n in switches}
    assert not found


# --------------------------------------------------------------------------- comments
HISTORY = re.compile(
    r"\b(was|were|now|previously|formerly|no longer|used to|"
    r"(this|previous|last|earlier|later|next) (round|session|commit|version))\b"
    r"|\bcommit [0-9a-f]{7,40}\b|\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b",
    re.IGNORECASE,
)


def _comments_and_docstrings(text: str) -> list[tuple[int, str]]:
    pieces = [(tok.start[0], tok.string) for tok in tokenize.generate_tokens(io.StringIO(text).readline)
              if tok.type == tokenize.COMMENT]  # fmt: skip
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                first = node.body[0].lineno
                pieces += [(first + i, line) for i, line in enumerate(doc.split("\n"))]
    return pieces


def _c_comments(text: str) -> list[tuple[int, str]]:
    pieces = []
    for match in re.finditer(r"/\*.*?\*/|//[^\n]*", text, re.DOTALL):
        first = text.count("\n", 0, match.start()) + 1
        pieces += [(first + i, line) for i, line in enumerate(match.group().split("\n"))]
    return pieces


def test_no_comment_or_docstring_narrates_history():
    """Comments say why the code is as it is; what changed when goes to the commit messages."""
    found = [
        f"{path.relative_to(SRC)}:{line}: {piece.strip()}"
        for path in sorted(SRC.rglob("*.py"))
        for line, piece in _comments_and_docstrings(path.read_text())
        if HISTORY.search(piece)
    ] + [
        f"{path.relative_to(SRC)}:{line}: {piece.strip()}"
        for path in sorted(SRC.rglob("*.c"))
        for line, piece in _c_comments(path.read_text())
        if HISTORY.search(piece)
    ]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("text", ["# R = 8 was faster in the previous round",
                                  '"""Measured at a8df6aa."""', "# the loops now pool in C"])  # fmt: skip
def test_the_history_check_sees_history(text):
    assert any(HISTORY.search(piece) for _, piece in _comments_and_docstrings(text))

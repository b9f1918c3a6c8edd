"""The README: its size, its quickstart run as written, the commands CI reads from it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _block(marker: str, language: str) -> str:
    """The fenced block directly below ``<!-- marker -->``."""
    after = README.split(f"<!-- {marker} -->\n", 1)[1]
    assert after.startswith(f"```{language}\n"), f"no ```{language} fence below <!-- {marker} -->"
    return after.split("\n", 1)[1].split("```", 1)[0]


def test_readme_is_at_most_10_kib() -> None:
    assert len(README.encode()) <= 10_240


def test_quickstart_runs_and_measures_what_it_says() -> None:
    namespace: dict = {}
    exec(_block("quickstart", "python"), namespace)
    net, x, wn = namespace["net"], namespace["x"], namespace["wn"]
    assert wn.testing.translation_error(net.float(), x.float(), shift=5) < 1e-6
    errors = wn.testing.dilation_error(net.double(), x, factor=2, per_scale=True)
    # The values the README quotes, to their two digits.
    quoted = re.search(r"per output scale, ([0-9.e-]+), ([0-9.e-]+), ([0-9.e-]+)", README)
    assert quoted is not None
    for measured, text in zip(errors, quoted.groups(), strict=True):
        assert abs(measured - float(text)) <= 0.051 * float(text), (measured, text)
    assert namespace["model"](torch.randn(1, 1, 32000)).shape == (1, 10)


def test_ci_reads_the_test_and_docs_commands() -> None:
    """`.ci/run` extracts the blocks under the markers with awk: run its awk programs here."""
    script = (ROOT / ".ci" / "run").read_text()
    programs = re.findall(r"awk '([^']+)' README.md", script)
    commands = [
        subprocess.run(["awk", awk, str(ROOT / "README.md")], capture_output=True, text=True,
                       check=True).stdout.strip()
        for awk in programs
    ]
    assert commands == [
        'pip install -c constraints.txt -e ".[test]" && python -m pytest',
        'pip install -c constraints.txt -e ".[docs]" && mkdocs build --strict',
    ]
    assert commands[1] == _block("docs-command", "bash").strip()


def test_relative_links_resolve() -> None:
    for target in re.findall(r"\]\(([^)#:]+)\)", README):
        assert (ROOT / target).exists(), target

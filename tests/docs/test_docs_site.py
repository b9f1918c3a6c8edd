"""The documentation site's configuration: every nav entry and API target exists, every page is in the nav.

`mkdocs build --strict` (CI, `.ci/run`) checks links and renders the docstrings;
this runs in the default suite without the `docs` extra.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _nav_files(nav) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [f for value in nav.values() for f in _nav_files(value)]
    return [f for item in nav for f in _nav_files(item)]


def _config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())


def _source(page: str) -> Path:
    """Where a nav entry's file is: in docs/, or the notebook the hook publishes from examples/."""
    if page == "demo.ipynb":
        return ROOT / "examples" / "demo.ipynb"
    return DOCS / page


def test_nav_references_existing_files() -> None:
    missing = [page for page in _nav_files(_config()["nav"]) if not _source(page).is_file()]
    assert not missing, f"mkdocs.yml nav names files that do not exist: {missing}"


def test_every_page_is_in_the_nav() -> None:
    nav = set(_nav_files(_config()["nav"]))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages <= nav, f"pages not in the nav of mkdocs.yml: {sorted(pages - nav)}"


def test_api_pages_name_existing_modules() -> None:
    for page in (DOCS / "api").glob("*.md"):
        for target in re.findall(r"^::: ([\w.]+)", page.read_text(), flags=re.M):
            parts = target.split(".")
            # the longest prefix that is a module or package of src/
            found = False
            for n in range(len(parts), 0, -1):
                base = ROOT / "src" / Path(*parts[:n])
                if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
                    found = True
                    break
            assert found, f"{page.name}: {target} is not in src/"


def test_performance_page_shows_the_results_file() -> None:
    """The page's "Current results" are the rendering of the results file it names."""
    import json

    from wavelet_networks.bench import render_markdown

    results = ROOT / "benchmarks" / "results" / "cpu-2core-epyc-zen5.json"
    page = (DOCS / "performance.md").read_text()
    assert f"--output benchmarks/results/{results.name}" in page
    assert render_markdown(json.loads(results.read_text())).strip() in page

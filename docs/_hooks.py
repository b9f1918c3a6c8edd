"""MkDocs hook: publish ``examples/demo.ipynb`` as the page ``demo.ipynb``.

The notebook lives with the examples (the test suite executes it there); the
site renders its stored outputs through mkdocs-jupyter without running it.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "demo.ipynb"


@event_priority(100)  # before mkdocs-jupyter's on_files wraps the notebooks
def on_files(files: Files, config) -> Files:
    # A plain File rooted at examples/ (not File.generated): mkdocs-jupyter's wrapper
    # derives the notebook's path from src_dir.
    files.append(
        File(
            NOTEBOOK.name,
            src_dir=str(NOTEBOOK.parent),
            dest_dir=config.site_dir,
            use_directory_urls=config.use_directory_urls,
        )
    )
    return files

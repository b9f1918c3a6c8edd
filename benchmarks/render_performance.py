"""Print the README's performance section from a results JSON: ``python benchmarks/render_readme.py FILE``."""

import json
import sys
from pathlib import Path

from wavelet_networks.bench import render_markdown

if __name__ == "__main__":
    print(render_markdown(json.loads(Path(sys.argv[1]).read_text())))

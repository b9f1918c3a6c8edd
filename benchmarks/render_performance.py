"""Print the "Current results" section of docs/performance.md from a results JSON.

Usage: ``python benchmarks/render_performance.py FILE`` (the same as
``wavelet-networks bench --markdown FILE``).
"""

import json
import sys
from pathlib import Path

from wavelet_networks.bench import render_markdown

if __name__ == "__main__":
    print(render_markdown(json.loads(Path(sys.argv[1]).read_text())))

"""Benchmark suite entry point: ``python benchmarks/bench_layers.py [--quick] [--output FILE]``.

Thin wrapper of :func:`wavelet_networks.bench.main` (also reachable as
``python -m wavelet_networks.bench`` and ``wavelet-networks bench``); see that
module for what is measured and how.
"""

import sys

from wavelet_networks.bench import main

if __name__ == "__main__":
    sys.exit(main())

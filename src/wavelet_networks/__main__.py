"""``python -m wavelet_networks`` runs the ``wavelet-networks`` command line tool."""

from wavelet_networks.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

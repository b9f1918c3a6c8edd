#!/usr/bin/env bash
# DDP smoke test: 2 CPU processes (gloo backend) train w-small-cnn on ACSF1 for one
# epoch and write results.json (rank 0 only). The same check runs as the slow test
# tests/cli/test_ddp.py:   python -m pytest -m slow tests/cli/test_ddp.py
# Usage: bash benchmarks/ddp_smoke.sh [RUN_ROOT]   (default: a temporary folder)
set -euo pipefail
root=${1:-$(mktemp -d)}
cd "$(dirname "$0")/.."
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
python -m wavelet_networks fit --model.model_name w-small-cnn --run_root "$root" \
    --trainer.strategy ddp --trainer.devices 2 --trainer.accelerator cpu \
    --trainer.max_epochs 1 --data.limit_per_class 4
test -f "$root/acsf1/w-small-cnn/fold-none/seed-0/results.json"
echo "ddp smoke test passed: $root/acsf1/w-small-cnn/fold-none/seed-0/results.json"

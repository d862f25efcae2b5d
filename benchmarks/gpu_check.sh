#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py) at full size, with the project's virtual environment.
# On a GPU machine: `benchmarks/gpu_check.sh` from the repository root (creates .venv if missing
# via `make venv`). Extra arguments go to the script, e.g. `--epochs 3 --embed 500`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || make venv
exec .venv/bin/python benchmarks/gpu_check.py "$@"

#!/usr/bin/env bash
# Create .venv and install this project into it.
#   bash scripts/setup.sh        # runtime only
#   bash scripts/setup.sh dev    # plus test and notebook tools
# TORCH_SPEC overrides the torch requirement (default "==2.13.0", the CPU wheel
# on our machines); GPU users set e.g. TORCH_SPEC=">=2.4" to keep their CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch${TORCH_SPEC:-==2.13.0}"
extra=""
[ "${1:-}" = "dev" ] && extra="[dev]"
.venv/bin/python -m pip install -q -e ".${extra}"

#!/usr/bin/env bash
# Lint, format check, type check of the plugin cores, then the whole test suite (slow tests
# included) with jaxtyping's runtime shape checks through beartype (pyproject addopts).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
$PY -m ruff check .
$PY -m ruff format --check .
# Both packages whole (the plugin cores and the studies, trainer and analyses built on them),
# and the experiments and benchmarks that use them.
$PY -m mypy saelens_hierarchical lime_lens experiments benchmarks
$PY -m pytest -m "slow or not slow"

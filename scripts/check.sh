#!/usr/bin/env bash
# Lint, format check, type check of the plugin cores, then the whole test suite (slow tests
# included) with jaxtyping's runtime shape checks through beartype (pyproject addopts).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
$PY -m ruff check .
$PY -m ruff format --check .
# The plugin cores: what a user of the SAELens flag or of HookedLIMeTransformer imports.
$PY -m mypy saelens_hierarchical/*.py saelens_hierarchical/loss lime_lens/*.py lime_lens/routers lime_lens/tl lime_lens/official lime_lens/hf lime_lens/bridge
$PY -m pytest -m "slow or not slow"

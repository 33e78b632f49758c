#!/usr/bin/env bash
# Dry run, on CPU, of the GPU procedure in benchmarks/gpu_check.py's docstring:
# 1. build the wheelhouse .whl/ for the GPU machine's Python 3.12 (scripts/build_gpu_wheels.sh:
#    fails under 10 MiB spare of the 64 MiB carry) and install it with --no-deps into an empty
#    folder for that Python (pip's --python-version/--platform: every wheel installable there);
# 2. this venv's Python cannot load 3.12 binaries, so the same package list is built for it
#    and installed with --no-deps into another empty folder; with that folder first on the
#    path and this venv's torch, import gpu_check.py and every script or module its steps run,
#    and collect the tests its first step runs. Each wheel's packages must load from the folder.
#
#   bash scripts/gpu_dry_run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
bash scripts/build_gpu_wheels.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$PY -m pip install -q --no-index --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    --target "$work/gpu" .whl/*.whl
echo "the wheelhouse installs for Python 3.12 into an empty folder"
here=$($PY -c 'import sys; print("%d.%d" % sys.version_info[:2])')
OUT="$work/whl" GPU_PYTHON="$here" bash scripts/build_gpu_wheels.sh
site="$work/site"
$PY -m pip install -q --no-index --no-deps --target "$site" "$work"/whl/*.whl
export PYTHONPATH="$site:." TRITON_INTERPRET=1
$PY - "$site" <<'EOF'
import collections, importlib, importlib.util, sys
from pathlib import Path

site = Path(sys.argv[1]).resolve()
sys.path.insert(0, str(Path("benchmarks").resolve()))
import gpu_check  # noqa: E402

for step in gpu_check.plan(Path("/tmp/gpu_dry_run"), collections.defaultdict(lambda: 1)):
    args = step.command[1:]
    if args[:2] == ["-m", "pytest"]:
        continue  # collected below
    if args[0] == "-m":  # python -m package.module
        importlib.import_module(args[1])
        print(f"imported {args[1]} ({step.name})")
        continue
    script = args[0]
    if not Path(script).exists():
        sys.exit(f"step {step.name!r}: {script} does not exist")
    spec = importlib.util.spec_from_file_location(f"dry_{Path(script).stem}", script)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # imports only: main() guarded
    print(f"imported {script} ({step.name})")
import torch  # noqa: E402

for name in ("sae_lens", "transformer_lens", "wandb", "simple_parsing"):
    origin = Path(importlib.import_module(name).__file__).resolve()
    if site not in origin.parents:
        sys.exit(f"{name} loaded from {origin}, not from the wheel folder {site}")
print(f"wheels load from {site}; torch {torch.__version__} from {Path(torch.__file__).parent}")
EOF
$PY -m pytest -q --collect-only -p no:cacheprovider -m "cuda or triton" tests | tail -1
echo "gpu dry run: ok"

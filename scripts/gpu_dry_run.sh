#!/usr/bin/env bash
# Dry run, on CPU, of the GPU procedure in benchmarks/gpu_check.py's docstring: build the
# wheelhouse (scripts/build_gpu_wheels.sh: fails under 10 MiB spare of the 64 MiB carry),
# install it with --no-deps into an empty folder, then, with that folder first on the path
# and this venv's torch, import gpu_check.py and every script its steps run, and collect the
# tests its first step runs. Each wheel's packages must load from the folder, not the venv.
#
#   bash scripts/gpu_dry_run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
bash scripts/build_gpu_wheels.sh
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
$PY -m pip install -q --no-index --no-deps --target "$site" .whl/*.whl
export PYTHONPATH="$site:." TRITON_INTERPRET=1
$PY - "$site" <<'EOF'
import importlib, importlib.util, sys
from pathlib import Path

site = Path(sys.argv[1]).resolve()
sys.path.insert(0, str(Path("benchmarks").resolve()))
import gpu_check  # noqa: E402

for step in gpu_check.plan(Path("/tmp/gpu_dry_run"), dict.fromkeys(
        ["tests", "htopk", "lime", "attention", "arithmetic"], 1)):
    script = next((c for c in step.command[1:] if c.endswith(".py")), None)
    if script is None:
        continue
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

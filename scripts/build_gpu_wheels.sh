#!/usr/bin/env bash
# Build .whl/: the wheels the GPU machine (Python 3.12, x86-64, torch 2.11 + triton 3.6, no
# network) lacks to run benchmarks/gpu_check.py: sae-lens, transformer-lens and the packages
# they import at import time that its image does not hold. Versions are this venv's (the ones
# the CPU tests ran with). Installed there with --no-deps, so the image's torch stays:
#
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
#   PYTHONPATH=/tmp/site:. python3 benchmarks/gpu_check.py --out results/gpu
#
# The device tool carries the working tree plus .whl/ within 64 MiB. Budget, with 10 MiB to
# spare: wheels <= 28 MiB (about 27 MiB; wandb alone 20 MiB: sae_lens.config imports it),
# tracked files <= 26 MiB (tests/test_gpu_check.py fails when they outgrow it). The script
# prints both and the spare, and fails if the spare is under 10 MiB. .whl/ is in .gitignore, so
# the device tool copies it only when named: run(..., carry=[".whl"]).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-.whl}  # scripts/gpu_dry_run.sh builds a second set for this venv's Python elsewhere
GPU_PYTHON=${GPU_PYTHON:-3.12}
PACKAGES=(
    sae-lens transformer-lens simple-parsing docstring-parser datasets dill multiprocess
    better-abc fancy-einsum typeguard beartype wandb pydantic pydantic-core annotated-types
    typing-inspection platformdirs googleapis-common-protos importlib-metadata
    opentelemetry-api opentelemetry-sdk opentelemetry-proto opentelemetry-semantic-conventions
    opentelemetry-exporter-otlp-proto-http opentelemetry-exporter-otlp-proto-common
    opentelemetry-exporter-http-transport opentelemetry-exporter-otlp-common
)
PLATFORM=(--python-version "$GPU_PYTHON" --implementation cp --platform manylinux_2_28_x86_64
          --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
          --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
rm -rf "$OUT" && mkdir -p "$OUT"
for name in "${PACKAGES[@]}"; do
    version=$($PY -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name" \
              2>/dev/null) || { echo "skip $name (not in this venv)"; continue; }
    # A binary (or py3) wheel for the GPU machine's Python; else build the pure-Python wheel.
    $PY -m pip download -q --no-deps --only-binary=:all: "${PLATFORM[@]}" -d "$OUT" \
        "$name==$version" 2>/dev/null \
        || $PY -m pip wheel -q --no-deps -w "$OUT" "$name==$version"
done
wheels_kib=$(du -sk "$OUT" | cut -f1)
# one sum over every batch xargs makes (du -c would print one total per batch)
tracked_kib=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print int(s / 1024)}')
spare_kib=$(( 64 * 1024 - wheels_kib - tracked_kib ))
echo "wheels: $(ls "$OUT" | wc -l) files, ${wheels_kib} KiB; tracked files: ${tracked_kib} KiB;" \
     "spare of the 64 MiB carry: ${spare_kib} KiB"
if (( spare_kib < 10 * 1024 )); then
    echo "under 10 MiB spare of the 64 MiB carry limit; drop wheels or tracked bulk" >&2
    exit 1
fi

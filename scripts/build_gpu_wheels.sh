#!/usr/bin/env bash
# Build .whl/: the wheels the GPU machine (Python 3.12, x86-64, torch 2.11 + triton 3.6, no
# network) lacks to run benchmarks/gpu_check.py: sae-lens, transformer-lens and the packages
# they import at import time that its image does not hold. Versions are this venv's (the ones
# the CPU tests ran with). Installed there with --no-deps, so the image's torch stays:
#
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
#   PYTHONPATH=/tmp/site:. python3 benchmarks/gpu_check.py --out results/gpu
#
# The device tool carries the working tree plus .whl/ within 64 MiB: the wheels are about
# 30 MiB (wandb alone 20 MiB: sae_lens.config imports it), the tracked files about 27 MiB;
# the script prints both and fails if together they pass 62 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=.whl
PACKAGES=(
    sae-lens transformer-lens simple-parsing docstring-parser datasets dill multiprocess
    better-abc fancy-einsum typeguard beartype wandb pydantic pydantic-core annotated-types
    typing-inspection platformdirs googleapis-common-protos importlib-metadata
    opentelemetry-api opentelemetry-sdk opentelemetry-proto opentelemetry-semantic-conventions
    opentelemetry-exporter-otlp-proto-http opentelemetry-exporter-otlp-proto-common
    opentelemetry-exporter-http-transport opentelemetry-exporter-otlp-common
)
PLATFORM=(--python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
          --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
          --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
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
tracked_kib=$(( $(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) / 1024 ))
echo "wheels: $(ls "$OUT" | wc -l) files, ${wheels_kib} KiB; tracked files: ${tracked_kib} KiB"
if (( wheels_kib + tracked_kib > 62 * 1024 )); then
    echo "over the 64 MiB carry limit (with 2 MiB for untracked files); drop wheels" >&2
    exit 1
fi

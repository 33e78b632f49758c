#!/usr/bin/env bash
# Create .venv and install this project into it.
#   bash scripts/setup.sh        # runtime only
#   bash scripts/setup.sh dev    # plus test and notebook tools
#   bash scripts/setup.sh ecosystem   # after `dev`: SAEDashboard, SAEBench, delphi, Chromium
#   bash scripts/setup.sh tl4    # .venv-tl4: transformer-lens 4.3 without sae-lens; runs the HF
#                                # model and bridge tests there
#   bash scripts/setup.sh tl4-floor   # the same in .venv-tl4-floor, with transformers at the
#                                     # lowest version pyproject.toml allows
# TORCH_SPEC overrides the torch requirement (default "==2.13.0", the CPU wheel
# on our machines); GPU users set e.g. TORCH_SPEC=">=2.4" to keep their CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ "${1:-}" = "ecosystem" ]; then
  # The ecosystem tools declare stale upper pins (sae-dashboard: transformer-lens<3,
  # transformers<4.57, datasets<4, jaxtyping<0.3; sae-bench: numpy<2, datasets<4). Resolving them
  # would downgrade the torch / transformer-lens / sae-lens stack this project is tested on, and
  # none of the code paths we use needs the old versions. So the three tools go in with --no-deps,
  # then exactly the modules they import at run time, under a constraints file that freezes
  # every package already installed: nothing of ours can change version. `pip check` will still
  # list the tools' declared pins as unmet; that is expected.
  [ -x .venv/bin/python ] || { echo "run 'bash scripts/setup.sh dev' first" >&2; exit 1; }
  constraints="$(mktemp)"
  .venv/bin/python -m pip freeze --exclude-editable | grep -v ' @ ' >"$constraints"
  .venv/bin/python -m pip install -q --no-deps \
    sae-dashboard==0.8.0 sae-bench==0.6.0 eai-delphi==0.1.3 sae-probes==0.4.2
  # What they import: sae-dashboard (dataclasses-json, eindex-callum); sae-bench (collectibles,
  # scikit-learn, seaborn, tabulate, openai); delphi (orjson, aiofiles, blobfile, faiss-cpu,
  # sentence-transformers, asyncer, fire, httpx, tiktoken); the browser test drives Chromium
  # with selenium.
  .venv/bin/python -m pip install -q -c "$constraints" \
    dataclasses-json eindex-callum collectibles scikit-learn seaborn tabulate openai \
    orjson aiofiles blobfile faiss-cpu sentence-transformers asyncer fire httpx tiktoken selenium
  rm -f "$constraints"
  # Debian's Chromium + its matching ChromeDriver (a test tool's own browser download fails
  # offline). Needs root; elsewhere install them by hand and the browser test finds them on PATH.
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        chromium chromium-driver >/dev/null
    else
      echo "install Debian's chromium and chromium-driver for the browser test" >&2
    fi
  fi
  exit 0
fi
if [ "${1:-}" = "tl4" ] || [ "${1:-}" = "tl4-floor" ]; then
  # TransformerLens 4 removed HookedTransformer, and sae-lens 6.54 pins transformer-lens<4, so
  # TL4 gets its own environment, .venv-tl4, without sae-lens: the project goes in with --no-deps,
  # then its declared dependencies (read from pyproject.toml) minus sae-lens and transformer-lens,
  # then transformer-lens 4.3. A plain `pip install .` still resolves everything on TL 3.9.
  # Then it runs what must work there: the Hugging Face model and the bridge adapter (tl4 marker).
  # tl4-floor pins transformers to the floor of pyproject.toml's range, so both ends are tested.
  VENV=.venv-tl4
  [ "$1" = "tl4-floor" ] && VENV=.venv-tl4-floor
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  V="$VENV/bin/python"
  $V -m pip install -q --upgrade pip
  $V -m pip install -q "torch${TORCH_SPEC:-==2.13.0}"
  mapfile -t deps < <($V - "$1" <<'PYEOF'
import re, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
dropped = {"sae-lens", "transformer-lens"}
wanted = [*project["dependencies"], *(d for d in project["optional-dependencies"]["dev"]
                                     if d.startswith("pytest"))]
for dep in wanted:
    if re.split(r"[<>=!~ \[;]", dep, maxsplit=1)[0].lower() not in dropped:
        print(dep)
if sys.argv[1] == "tl4-floor":
    floor = next(d for d in project["dependencies"] if d.startswith("transformers>="))
    print("transformers==" + re.match(r"transformers>=([0-9.]+)", floor).group(1))
PYEOF
)
  $V -m pip install -q "${deps[@]}" "transformer-lens>=4.3,<5"
  $V -m pip install -q --no-deps -e .
  OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" $V -m pytest -q -m tl4 tests/lime_lens/hf tests/lime_lens/bridge
  exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch${TORCH_SPEC:-==2.13.0}"
extra=""
[ "${1:-}" = "dev" ] && extra="[dev]"
.venv/bin/python -m pip install -q -e ".${extra}"

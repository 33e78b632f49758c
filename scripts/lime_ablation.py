"""The routing ablations of paper v2 App. D (Table 7) at small scale on CPU (deterministic).

    OMP_NUM_THREADS=1 nice python scripts/lime_ablation.py [--seeds 0 1] [--archs ...]

Trains the kv routers restricted by ``LIMeConfig.lime_sources`` (``lime-kv-average``,
``lime-kv-last2``, ``lime-kv-first2``) with the tiny recipe (``scripts/tiny_lime_recipe.py``:
same shape, optimiser, tokens and token order per seed as the full router and the vanilla
baseline), one run at a time with one torch thread. The full router (``lime-kv``) and the vanilla
baseline are read from ``results/lime_reproduction.json`` when a stored run has exactly this
recipe and seed (checked field by field; otherwise they are trained too).

Writes ``OUT/lime_ablation.json`` (``--out``, default ``results``) after every run, atomically,
so a stopped run leaves the finished ones; render it with
``python scripts/render_lime_ablation.py OUT/lime_ablation.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import tiny_lime_recipe
import torch
from tiny_lime_recipe import TINY_CONTEXT_SIZE, TINY_SHAPE, matched_baseline_shape, train_tiny

from lime_lens.assets.tokenizer import load_tokenizer
from lime_lens.serialization import atomic_write_text
from lime_lens.train import TrainConfig

NEW_ARCHES = ("lime-kv-average", "lime-kv-last2", "lime-kv-first2")
"""The constrained routers trained here (Table 7 rows average, last-2, first-2)."""
REUSED_ARCHES = ("lime-kv", "vanilla")
"""Table 7 rows full router and LLaMA, read from the reproduction when the run is identical."""
REPRODUCTION = Path("results/lime_reproduction.json")


def expected_shape(arch: str) -> dict[str, Any]:
    """The recipe's model shape of ``arch`` (the vanilla d_mlp matched as in the reproduction)."""
    return matched_baseline_shape(len(load_tokenizer())) if arch == "vanilla" else TINY_SHAPE


def reusable_run(arch: str, seed: int, stored: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The stored run of ``arch`` / ``seed`` when its recipe equals this script's exactly."""
    recipe = TrainConfig(**tiny_lime_recipe.TINY_TRAIN, seed=seed, progress=False).to_dict()
    for run in stored:
        same = (
            run.get("task") == "lm"
            and run["arch"] == arch
            and run["seed"] == seed
            and run["model_shape"] == expected_shape(arch)
            and run["train_config"] == recipe
            and run["context_size"] == TINY_CONTEXT_SIZE
            and run["tokenizer"] == "bpe4096"
        )
        if same:
            return {**run, "source": f"{REPRODUCTION} (identical recipe and seed)"}
    return None


def write_json(payload: dict[str, Any], out: Path) -> Path:
    # atomic: a killed run leaves the previous JSON intact
    return atomic_write_text(out / "lime_ablation.json", json.dumps(payload, indent=2, default=str))


def run_all(args: argparse.Namespace, meta: dict[str, Any]) -> Path:
    """Reused runs first, then every new run in order (seed-major), the JSON rewritten after each."""
    stored = json.loads(REPRODUCTION.read_text())["runs"] if REPRODUCTION.is_file() else []
    runs: list[dict[str, Any]] = []
    todo: list[tuple[str, int]] = []
    for seed in args.seeds:
        for arch in REUSED_ARCHES:
            reused = None if args.retrain_reused else reusable_run(arch, seed, stored)
            if reused:
                runs.append(reused)
            else:
                todo.append((arch, seed))
    todo = [(arch, seed) for seed in args.seeds for arch in args.archs] + todo
    t0 = time.time()
    path = write_json({"meta": {**meta, "planned": todo}, "runs": runs}, args.out)
    for arch, seed in todo:
        shape = expected_shape(arch) if arch == "vanilla" else None
        _, metrics = train_tiny(arch, seed, shape)
        runs.append({"task": "lm", **metrics})
        meta["wall_time_s"] = time.time() - t0
        path = write_json({"meta": {**meta, "planned": todo}, "runs": runs}, args.out)
        print(
            f"[{time.time() - t0:6.0f}s] {arch} seed {seed}: {metrics['val_loss']:.4f}", flush=True
        )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--archs", nargs="+", default=list(NEW_ARCHES))
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--retrain-reused", action="store_true", help="train lime-kv / vanilla too")
    parser.add_argument(
        "--smoke-steps", type=int, default=None, help="a few-step smoke test (never the results)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.smoke_steps is not None:  # the recipe differs, so nothing is reused
        tiny_lime_recipe.use_smoke_steps(args.smoke_steps)
    meta = {
        "command": shlex.join(
            ["OMP_NUM_THREADS=1", "nice", "python", "scripts/lime_ablation.py", *sys.argv[1:]]
        ),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "jobs": 1,
        "lm_shape": TINY_SHAPE,
        "lm_train": dict(tiny_lime_recipe.TINY_TRAIN),
        "lm_context_size": TINY_CONTEXT_SIZE,
        "seeds": args.seeds,
    }
    path = run_all(args, meta)
    print(f"wrote {path}; render it with `python scripts/render_lime_ablation.py {path}`")


if __name__ == "__main__":
    main()

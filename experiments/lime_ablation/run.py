"""The routing ablations of paper v2 App. D (Table 7) at small scale on CPU (deterministic).

    OMP_NUM_THREADS=1 nice python -m experiments.lime_ablation.run [--seeds 0 1] [--archs ...]

Trains the kv routers restricted by ``LIMeConfig.lime_sources`` (``lime-kv-average``,
``lime-kv-last2``, ``lime-kv-first2``) with the tiny recipe (``lime_lens.train.tiny_recipe``:
same shape, optimiser, tokens and token order per seed as the full router and the vanilla
baseline), one run at a time with one torch thread. The full router (``lime-kv``) and the vanilla
baseline are read from ``experiments/lime_reproduction/lime_reproduction.json`` when a stored run has exactly this
recipe and seed (checked field by field; otherwise they are trained too).

Writes ``OUT/lime_ablation.json`` (``--out``, default: this folder) after every run, atomically,
so a stopped run leaves the finished ones; render it with
``python -m experiments.lime_ablation.render OUT/lime_ablation.json``.
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

import torch

from experiments.common import finish, provenance
from experiments.lime_reproduction.reuse import expected_shape, reusable_run, stored_runs
from lime_lens.serialization import atomic_write_text
from lime_lens.train.tiny_recipe import (
    TINY_CONTEXT_SIZE,
    TINY_SHAPE,
    TINY_TRAIN,
    smoke_train,
    train_tiny,
)

NEW_ARCHES = ("lime-kv-average", "lime-kv-last2", "lime-kv-first2")
"""The constrained routers trained here (Table 7 rows average, last-2, first-2)."""
REUSED_ARCHES = ("lime-kv", "vanilla")
"""Table 7 rows full router and LLaMA, read from the reproduction when the run is identical."""


def write_json(payload: dict[str, Any], out: Path) -> Path:
    # atomic: a killed run leaves the previous JSON intact
    return atomic_write_text(out / "lime_ablation.json", json.dumps(payload, indent=2, default=str))


def run_all(args: argparse.Namespace, meta: dict[str, Any], recipe: dict[str, Any]) -> Path:
    """Reused runs first, then every new run in order (seed-major), the JSON rewritten after each."""
    stored = stored_runs()
    runs: list[dict[str, Any]] = []
    todo: list[tuple[str, int]] = []
    for seed in args.seeds:
        for arch in REUSED_ARCHES:
            reused = None if args.retrain_reused else reusable_run(arch, seed, stored, recipe)
            if reused:
                runs.append(reused)
            else:
                todo.append((arch, seed))
    todo = [(arch, seed) for seed in args.seeds for arch in args.archs] + todo
    t0 = time.time()
    path = write_json({"meta": {**meta, "planned": todo}, "runs": runs}, args.out)
    for arch, seed in todo:
        shape = expected_shape(arch) if arch == "vanilla" else None
        _, metrics = train_tiny(arch, seed, shape, recipe)
        runs.append({"task": "lm", **metrics})
        meta["wall_time_s"] = time.time() - t0
        meta["provenance"] = finish(meta["provenance"])
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
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--retrain-reused", action="store_true", help="train lime-kv / vanilla too")
    parser.add_argument(
        "--smoke-steps", type=int, default=None, help="a few-step smoke test (never the results)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    # a smoke run's recipe differs, so nothing is reused
    recipe = TINY_TRAIN if args.smoke_steps is None else smoke_train(args.smoke_steps)
    meta = {
        "command": shlex.join(
            [
                "OMP_NUM_THREADS=1",
                "nice",
                "python",
                "-m",
                "experiments.lime_ablation.run",
                *sys.argv[1:],
            ]
        ),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "jobs": 1,
        "lm_shape": TINY_SHAPE,
        "lm_train": dict(recipe),
        "lm_context_size": TINY_CONTEXT_SIZE,
        "seeds": args.seeds,
        "provenance": provenance(args.seeds),
    }
    path = run_all(args, meta, recipe)
    print(f"wrote {path}; render it with `python -m experiments.lime_ablation.render {path}`")


if __name__ == "__main__":
    main()

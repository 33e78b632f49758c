"""The depth claim of the LIMe paper (v2 §5.5) at small scale on CPU: LIMe-kv vs vanilla vs depth.

    OMP_NUM_THREADS=1 nice python -m experiments.lime_depth.run [--depths 8 16 32] [--seeds 0 1] [--append]

The paper reports that LIMe's advantage grows with depth (deep narrow models, 32/64/128 layers;
a 64-layer LIMe matches a 128-layer LLaMA). Here: the tiny recipe (``lime_lens.train.tiny_recipe``:
d_model 64, 4 heads of 16, full multi-head attention, 500 steps, 512,000 training tokens of the
embedded Austen corpus, the same tokens in the same order for both models of a seed) with
``n_layers`` set to each depth; the vanilla baseline's ``d_mlp`` is matched at every depth by the
reproduction's rule (:func:`lime_lens.train.tiny_recipe.matched_baseline_shape`); where that rule leaves a
parameter gap over 1% (deep models: the dynamic router it also matches grows with depth), a vanilla
matched to LIMe-kv alone (``vanilla-matched-kv``) is trained too. Depth-4 runs identical to
stored ones in ``experiments/lime_reproduction/lime_reproduction.json`` are reused (checked field by field). ``--append``
continues an existing JSON (a later invocation, logged under ``meta["continued"]``).

Every LIMe run also stores its per-layer routing heatmap (paper v2 Fig. 5,
``lime_lens.analysis.routing``). Writes ``OUT/lime_depth.json`` after every run, atomically, so a
stopped run leaves the finished ones; render it with ``python -m experiments.lime_depth.render``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch
from transformer_lens import HookedTransformer

from experiments.common import finish, provenance
from experiments.lime_reproduction.reuse import reusable_run, stored_runs
from lime_lens.analysis.routing import routing_heatmaps_for
from lime_lens.assets.tokenizer import load_tokenizer
from lime_lens.serialization import atomic_write_text
from lime_lens.train.architectures import ModelShape, build_model, count_params
from lime_lens.train.baseline import equal_size_baseline_shape
from lime_lens.train.tiny_recipe import (
    MATCHED_ARCHES,
    TINY_CONTEXT_SIZE,
    TINY_SHAPE,
    TINY_TRAIN,
    smoke_train,
    train_tiny,
)

ARCHES = ("lime-kv", "vanilla")
MATCHED = "vanilla-matched-kv"
"""Vanilla with d_mlp matched to LIMe-kv alone: planned at depths where the reproduction's rule
(matched to LIMe-kv and LIMe-residual-dynamic together) leaves a parameter gap over 1%."""
HERE = Path(__file__).resolve().parent


def depth_shape(arch: str, depth: int) -> dict[str, Any]:
    """TINY_SHAPE at ``depth`` layers; vanilla's d_mlp matched as in the reproduction."""
    shape = {**TINY_SHAPE, "n_layers": depth}
    if arch == MATCHED:
        return equal_size_baseline_shape(shape, len(load_tokenizer()), ("lime-kv",))
    if arch != "vanilla":
        return shape
    return equal_size_baseline_shape(shape, len(load_tokenizer()), MATCHED_ARCHES)


def parameter_gap(depth: int) -> float:
    """Relative parameter gap of the reproduction-matched vanilla to LIMe-kv at ``depth``."""
    counts = {
        arch: count_params(
            build_model(arch, ModelShape(**depth_shape(arch, depth)), len(load_tokenizer()))
        )
        for arch in ARCHES
    }
    return abs(counts["vanilla"] - counts["lime-kv"]) / counts["lime-kv"]


def plan(depths: list[int], seeds: list[int]) -> list[tuple[str, int, int]]:
    """(arch, depth, seed) in run order; MATCHED joins where the vanilla gap exceeds 1%."""
    arches = {d: ARCHES + ((MATCHED,) if parameter_gap(d) > 0.01 else ()) for d in depths}
    return [(a, d, s) for d in depths for s in seeds for a in arches[d]]


def heatmap_rows(model: HookedTransformer) -> list[list[float | None]]:
    """The per-layer routing heatmap M[l, j] as JSON rows (None where j > l)."""
    per_layer = routing_heatmaps_for(model).per_layer
    return [[None if math.isnan(v) else v for v in row] for row in per_layer.tolist()]


def one_run(
    arch: str,
    depth: int,
    seed: int,
    stored: list[dict[str, Any]],
    train_overrides: dict[str, Any] = TINY_TRAIN,
) -> dict[str, Any]:
    """A stored identical run (depth 4) or a fresh one; LIMe runs carry their routing heatmap."""
    if depth == TINY_SHAPE["n_layers"]:
        reused = reusable_run(arch, seed, stored, train_overrides)
        if reused is not None:
            return {**reused, "depth": depth}
    model, metrics = train_tiny(
        "vanilla" if arch == MATCHED else arch, seed, depth_shape(arch, depth), train_overrides
    )
    run = {"task": "lm", "depth": depth, **metrics, "arch": arch, "load_average": os.getloadavg()}
    if arch not in ("vanilla", MATCHED):
        run["routing_per_layer"] = heatmap_rows(model)
    return run


def write_json(payload: dict[str, Any], out: Path) -> Path:
    return atomic_write_text(out / "lime_depth.json", json.dumps(payload, indent=2, default=str))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--depths", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument(
        "--append",
        action="store_true",
        help="continue OUT/lime_depth.json: keep its runs, run only what is not there yet",
    )
    parser.add_argument(
        "--smoke-steps", type=int, default=None, help="a few-step smoke test (never the results)"
    )
    return parser.parse_args()


def new_meta(
    args: argparse.Namespace, planned: list[tuple[str, int, int]], train_overrides: dict[str, Any]
) -> dict[str, Any]:
    return {
        "command": shlex.join(
            [
                "OMP_NUM_THREADS=1",
                "nice",
                "python",
                "-m",
                "experiments.lime_depth.run",
                *sys.argv[1:],
            ]
        ),
        "provenance": provenance(args.seeds),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": 1,
        "lm_shape": TINY_SHAPE,
        "lm_train": dict(train_overrides),
        "lm_context_size": TINY_CONTEXT_SIZE,
        "depths": args.depths,
        "seeds": args.seeds,
        "planned": planned,
        "load_average_start": os.getloadavg(),
    }


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    # a smoke run's recipe differs, so nothing is reused
    recipe = TINY_TRAIN if args.smoke_steps is None else smoke_train(args.smoke_steps)
    stored = stored_runs()
    planned = plan(args.depths, args.seeds)
    existing = args.out / "lime_depth.json"
    if args.append and existing.is_file():  # the first invocation's meta stays; this one is logged
        payload = json.loads(existing.read_text())
        meta, runs = payload["meta"], payload["runs"]
        if meta["lm_train"] != dict(recipe):
            raise ValueError(f"{existing}: recorded with another recipe ({meta['lm_train']})")
        done = {(r["arch"], r["depth"], r["seed"]) for r in runs}
        meta["planned"] = [
            *map(tuple, meta["planned"]),
            *(p for p in planned if p not in set(map(tuple, meta["planned"]))),
        ]
        planned = [p for p in planned if p not in done]
        log = new_meta(args, planned, recipe)
        meta.setdefault("continued", []).append(log)
    else:
        meta = log = new_meta(args, planned, recipe)
        runs = []
    t0 = time.time()
    path = write_json({"meta": meta, "runs": runs}, args.out)
    for arch, depth, seed in planned:
        runs.append(one_run(arch, depth, seed, stored, recipe))
        log.update(wall_time_s=time.time() - t0, load_average_end=os.getloadavg())
        log["provenance"] = finish(log["provenance"])
        path = write_json({"meta": meta, "runs": runs}, args.out)
        print(f"[{time.time() - t0:6.0f}s] {arch} depth {depth} seed {seed}", flush=True)
    print(f"wrote {path}; render it with `python -m experiments.lime_depth.render {path}`")


if __name__ == "__main__":
    main()

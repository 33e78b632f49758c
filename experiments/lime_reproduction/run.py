"""Reproduce the LIMe paper's two claims at small scale on CPU (deterministic).

    OMP_NUM_THREADS=1 nice python -m experiments.lime_reproduction.run [--jobs 2] [--seeds 0 1 2]

1. Language modelling (paper v2 §5, Fig. 1): LIMe-kv (v2), LIMe-residual-dynamic (v1) and the
   vanilla LLaMA-style baseline at equal parameter count (baseline d_mlp matched, within 1%) and
   equal tokens, on the embedded Austen corpus, one run per seed; validation loss mean +- std.
   Recipe: ``lime_lens.train.tiny_recipe`` (TINY_SHAPE, TINY_TRAIN); seed 0 of LIMe-kv / vanilla
   equals the shipped tiny models.
2. The mod-10 arithmetic smoke task (not the paper's v2 §5.3.2 task; the model size of App. A:
   4 layers, 4 heads, d_model 32): vanilla vs LIMe-kv
   trained on the N = 2..6 mixture of ``lime_lens.arithmetic.SmokeTask()``, exact-match
   accuracy per N on held-out expressions.

Every run uses ``lime_lens.train.train`` with one torch thread; ``--jobs`` runs go in parallel.
Writes ``OUT/lime_reproduction.json`` (``--out``, default: this folder) and nothing else; render it
with ``python -m experiments.lime_reproduction.render OUT/lime_reproduction.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch

from experiments.common import finish, provenance
from experiments.lime_reproduction.stats import arith_summary, lm_summary
from lime_lens.arithmetic import PAPER_SHAPE, SmokeTask, encode_smoke_task, train_smoke
from lime_lens.assets.pretrained import tiny_model_metrics
from lime_lens.assets.tokenizer import load_tokenizer
from lime_lens.serialization import atomic_write_text
from lime_lens.train import TrainConfig
from lime_lens.train.tiny_recipe import (
    TINY_CONTEXT_SIZE,
    TINY_SHAPE,
    TINY_TRAIN,
    matched_baseline_shape,
    train_tiny,
)

LM_ARCHES = ("lime-kv", "lime-residual-dynamic", "vanilla")
ARITH_ARCHES = ("lime-kv", "vanilla")
ARITH_TRAIN: dict[str, Any] = dict(
    max_steps=2000, batch_size=128, lr=5e-3, router_lr=5e-2, warmup_steps=100, eval_interval=0
)
"""TrainConfig overrides for the arithmetic runs (both archs alike): answer-only loss, router
lr = 10 x lr as in the paper (App. A), weight decay 0.1, 256,000 training expressions (~3.7 epochs)."""
SHIPPED = {"lime-kv": "lime", "vanilla": "vanilla"}  # arch -> tiny_model_metrics name


def lm_job(arch: str, seed: int, shape: dict[str, Any] | None) -> dict[str, Any]:
    torch.set_num_threads(1)
    _, metrics = train_tiny(arch, seed, shape)
    return {"task": "lm", **metrics}


def shipped_run(arch: str, seed: int, shape: dict[str, Any] | None) -> dict[str, Any] | None:
    """The shipped tiny model's recorded run when it is exactly this run (same recipe, seed, shape)."""
    if arch not in SHIPPED:
        return None
    try:
        metrics = tiny_model_metrics(SHIPPED[arch])
    except FileNotFoundError:
        return None
    same = (
        metrics["seed"] == seed
        and metrics["model_shape"] == (shape or TINY_SHAPE)
        and metrics["train_config"]
        == TrainConfig(**TINY_TRAIN, seed=seed, progress=False).to_dict()
    )
    return {"task": "lm", **metrics, "source": "shipped checkpoint metrics.json"} if same else None


def arith_job(arch: str, seed: int) -> dict[str, Any]:
    torch.set_num_threads(1)
    data = encode_smoke_task(SmokeTask())
    run = train_smoke(arch, data, TrainConfig(**ARITH_TRAIN, seed=seed, progress=False))
    return {"task": "arithmetic", **run.to_dict(), "sizes": data.sizes}


def run_all(args: argparse.Namespace, t0: float) -> list[dict[str, Any]]:
    """Every language-modelling and arithmetic run, ``args.jobs`` at a time; seed 0 of the shipped
    architectures is read from the shipped models' metrics when it is the same run."""
    baseline_shape = matched_baseline_shape(len(load_tokenizer()))
    lm_runs = [
        (arch, seed, baseline_shape if arch == "vanilla" else None)
        for seed in args.seeds
        for arch in LM_ARCHES
    ]
    maybe_shipped = [run for run in lm_runs if run[:2] in {(arch, 0) for arch in SHIPPED}]
    runs: list[dict[str, Any]] = []

    def collect(futures: list) -> None:
        for future in futures:
            runs.append(future.result())
            r = runs[-1]
            print(
                f"[{time.time() - t0:6.0f}s] {r['task']} {r['arch']} seed {r['seed']} done",
                flush=True,
            )

    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(arith_job, arch, seed) for seed in args.arith_seeds for arch in ARITH_ARCHES
        ]
        collect(
            futures + [pool.submit(lm_job, *run) for run in lm_runs if run not in maybe_shipped]
        )
        # Looked up last, so that scripts/train_tiny_lime.py may still be running when this starts.
        reused = (
            []
            if args.retrain_shipped
            else [r for r in (shipped_run(*run) for run in maybe_shipped) if r]
        )
        runs += reused
        collect(
            [
                pool.submit(lm_job, *run)
                for run in maybe_shipped
                if not any((r["arch"], r["seed"]) == run[:2] for r in reused)
            ]
        )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="runs in parallel (one torch thread each)"
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="language-modelling seeds"
    )
    parser.add_argument("--arith-seeds", type=int, nargs="+", default=[0], help="arithmetic seeds")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument(
        "--retrain-shipped",
        action="store_true",
        help="retrain seed 0 of lime-kv/vanilla instead of reading the shipped models' identical runs",
    )
    args = parser.parse_args()
    t0, load_start = time.time(), os.getloadavg()[0]
    started = provenance(sorted({*args.seeds, *args.arith_seeds}))
    runs = run_all(args, t0)
    command = shlex.join(
        [
            "OMP_NUM_THREADS=1",
            "nice",
            "python",
            "-m",
            "experiments.lime_reproduction.run",
            *sys.argv[1:],
        ]
    )
    meta = {
        "command": command,
        "provenance": finish(started),
        "wall_time_s": time.time() - t0,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "jobs": args.jobs,
        "cpu_count": os.cpu_count(),
        "load_average": [load_start, os.getloadavg()[0]],
        "lm_shape": TINY_SHAPE,
        "lm_train": TINY_TRAIN,
        "lm_context_size": TINY_CONTEXT_SIZE,
        "arith_shape": vars(PAPER_SHAPE),
        "arith_train": ARITH_TRAIN,
    }
    write_results(meta, runs, args.out)


def write_results(meta: dict[str, Any], runs: list[dict[str, Any]], out: Path) -> Path:
    """``out/lime_reproduction.json``: meta, per-architecture summaries and every raw run."""
    lm = [r for r in runs if r["task"] == "lm"]
    arith = [r for r in runs if r["task"] == "arithmetic"]
    meta = {
        **meta,
        "lm_baseline_shape": next(r["model_shape"] for r in lm if r["arch"] == "vanilla"),
        "arith_sizes": arith[0]["sizes"],
        "reused": [f"{r['arch']} seed {r['seed']}" for r in lm if r.get("source")],
    }
    payload = {"meta": meta, "lm": lm_summary(lm), "arithmetic": arith_summary(arith), "runs": runs}
    # atomic: a killed run leaves the previous JSON intact
    path = atomic_write_text(
        out / "lime_reproduction.json", json.dumps(payload, indent=2, default=str)
    )
    print(f"wrote {path}; render it with `python -m experiments.lime_reproduction.render {path}`")
    return path


if __name__ == "__main__":
    main()

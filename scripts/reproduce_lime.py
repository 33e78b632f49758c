"""Reproduce the LIMe paper's two claims at small scale on CPU (deterministic).

    OMP_NUM_THREADS=1 nice python scripts/reproduce_lime.py [--jobs 2] [--seeds 0 1 2]

1. Language modelling (paper v2 §5, Fig. 1): LIMe-kv (v2), LIMe-residual-dynamic (v1) and the
   vanilla LLaMA-style baseline at equal parameter count (baseline d_mlp matched, within 1%) and
   equal tokens, on the embedded Austen corpus, one run per seed; validation loss mean +- std.
   Recipe: ``lime_lens.assets.pretrained`` (TINY_SHAPE, TINY_TRAIN); seed 0 of LIMe-kv / vanilla
   equals the shipped tiny models.
2. Arithmetic expressions (paper v2 §6: 4 layers, 4 heads, d_model 32): vanilla vs LIMe-kv
   trained on the N = 2..6 mixture of ``lime_lens.arithmetic.ArithmeticTask()``, exact-match
   accuracy per N on held-out expressions.

Every run uses ``lime_lens.train.train`` with one torch thread; ``--jobs`` runs go in parallel.
Writes ``results/lime_reproduction.json`` and ``results/lime_reproduction.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shlex
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch

from lime_lens.arithmetic import PAPER_SHAPE, ArithmeticTask, encode_task, train_arithmetic
from lime_lens.assets.pretrained import (
    TINY_CONTEXT_SIZE,
    TINY_SHAPE,
    TINY_TRAIN,
    matched_baseline_shape,
    tiny_model_metrics,
    train_tiny,
)
from lime_lens.assets.tokenizer import load_tokenizer
from lime_lens.train import TrainConfig

LM_ARCHES = ("lime-kv", "lime-residual-dynamic", "vanilla")
ARITH_ARCHES = ("lime-kv", "vanilla")
ARITH_TRAIN = dict(
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
    data = encode_task(ArithmeticTask())
    run = train_arithmetic(arch, data, TrainConfig(**ARITH_TRAIN, seed=seed, progress=False))
    return {"task": "arithmetic", **run.to_dict(), "sizes": data.sizes}


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else float("nan")


def lm_table(runs: list[dict[str, Any]]) -> tuple[list[str], dict[str, Any]]:
    lines = [
        "| model | parameters | vs vanilla | val loss (mean +- std) | per seed | val perplexity | train tok/s |",
        "|---|---|---|---|---|---|---|",
    ]
    summary: dict[str, Any] = {}
    base = next(r["n_params"] for r in runs if r["arch"] == "vanilla")
    for arch in LM_ARCHES:
        mine = sorted((r for r in runs if r["arch"] == arch), key=lambda r: r["seed"])
        losses = [r["val_loss"] for r in mine]
        mean, std = mean_std(losses)
        tok_s = statistics.fmean(r["tokens_per_s"] for r in mine)
        n = mine[0]["n_params"]
        summary[arch] = {
            "val_loss_mean": mean,
            "val_loss_std": std,
            "val_losses": losses,
            "n_params": n,
            "tokens_per_s_mean": tok_s,
            "seeds": [r["seed"] for r in mine],
        }
        per_seed = ", ".join(f"{x:.4f}" for x in losses)
        lines.append(
            f"| {arch} | {n:,} | {100 * (n - base) / base:+.2f}% | {mean:.4f} +- {std:.4f} | {per_seed} "
            f"| {math.exp(mean):.2f} | {tok_s:,.0f} |"
        )
    return lines, summary


def arith_table(runs: list[dict[str, Any]]) -> tuple[list[str], dict[str, Any]]:
    ns = sorted(int(n) for n in runs[0]["accuracy"])
    lines = [
        "| model | parameters | " + " | ".join(f"N={n}" for n in ns) + " | train acc N=6 | tok/s |",
        "|---|---|" + "---|" * len(ns) + "---|---|",
    ]
    summary: dict[str, Any] = {}
    for arch in ARITH_ARCHES:
        mine = [r for r in runs if r["arch"] == arch]
        per_n = {n: mean_std([100 * r["accuracy"][n] for r in mine]) for n in ns}
        train6 = statistics.fmean(100 * r["train_accuracy"][max(ns)] for r in mine)
        summary[arch] = {
            "accuracy_pct": {n: {"mean": m, "std": s} for n, (m, s) in per_n.items()},
            "n_params": mine[0]["n_params"],
            "seeds": [r["seed"] for r in mine],
        }
        cells = " | ".join(
            f"{m:.1f}" + (f" +- {s:.1f}" if len(mine) > 1 else "") for m, s in per_n.values()
        )
        tok_s = statistics.fmean(r["tokens_per_s"] for r in mine)
        lines.append(
            f"| {arch} | {mine[0]['n_params']:,} | {cells} | {train6:.1f} | {tok_s:,.0f} |"
        )
    return lines, summary


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
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument(
        "--retrain-shipped",
        action="store_true",
        help="retrain seed 0 of lime-kv/vanilla instead of reading the shipped models' identical runs",
    )
    parser.add_argument(
        "--render", type=Path, default=None, help="only re-render the tables of a written JSON"
    )
    args = parser.parse_args()
    if args.render is not None:
        write_results(*read_runs(args.render), args.out)
        return
    baseline_shape = matched_baseline_shape(len(load_tokenizer()))
    t0 = time.time()
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
    command = shlex.join(
        ["OMP_NUM_THREADS=1", "nice", "python", "scripts/reproduce_lime.py", *sys.argv[1:]]
    )
    meta = {
        "command": command,
        "wall_time_s": time.time() - t0,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "jobs": args.jobs,
        "lm_shape": TINY_SHAPE,
        "lm_train": TINY_TRAIN,
        "lm_context_size": TINY_CONTEXT_SIZE,
        "arith_shape": vars(PAPER_SHAPE),
        "arith_train": ARITH_TRAIN,
    }
    write_results(meta, runs, args.out)


def write_results(meta: dict[str, Any], runs: list[dict[str, Any]], out: Path) -> None:
    """Tables from ``runs``; writes ``out/lime_reproduction.{json,md}``."""
    lm = [r for r in runs if r["task"] == "lm"]
    arith = [r for r in runs if r["task"] == "arithmetic"]
    lm_lines, lm_summary = lm_table(lm)
    ar_lines, ar_summary = arith_table(arith)
    meta = {
        **meta,
        "lm_baseline_shape": next(r["model_shape"] for r in lm if r["arch"] == "vanilla"),
        "arith_sizes": arith[0]["sizes"],
        "reused": [f"{r['arch']} seed {r['seed']}" for r in lm if r.get("source")],
    }
    out.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "lm": lm_summary, "arithmetic": ar_summary, "runs": runs}
    (out / "lime_reproduction.json").write_text(json.dumps(payload, indent=2, default=str))
    (out / "lime_reproduction.md").write_text(
        render_markdown(meta, lm_lines, ar_lines, lm_summary, ar_summary)
    )
    print("\n".join(lm_lines + [""] + ar_lines))


def read_runs(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(meta, runs) of a written JSON, with the per-N dicts keyed by int again."""
    payload = json.loads(path.read_text())
    for run in payload["runs"]:
        for key in ("accuracy", "train_accuracy", "sizes"):
            if key in run:
                run[key] = {int(n): v for n, v in run[key].items()}
    return payload["meta"], payload["runs"]


def comparison_lines(lm: dict[str, Any], arith: dict[str, Any]) -> list[str]:
    """LIMe minus vanilla, with the seed-to-seed standard error of that difference."""
    base = lm["vanilla"]
    lines = []
    for arch in LM_ARCHES[:-1]:
        mine = lm[arch]
        diff = mine["val_loss_mean"] - base["val_loss_mean"]
        se = math.sqrt(
            mine["val_loss_std"] ** 2 / len(mine["val_losses"])
            + base["val_loss_std"] ** 2 / len(base["val_losses"])
        )
        verdict = (
            "lower than vanilla"
            if diff < -2 * se
            else "higher than vanilla"
            if diff > 2 * se
            else "not resolved from vanilla"
        )
        lines.append(
            f"- {arch} - vanilla: {diff:+.4f} nats/token (standard error {se:.4f}; perplexity "
            f"{100 * math.expm1(diff):+.2f}%): {verdict} at 2 standard errors over these seeds."
        )
    n_max = max(arith["vanilla"]["accuracy_pct"])
    acc = {a: arith[a]["accuracy_pct"][n_max]["mean"] for a in ARITH_ARCHES}
    lines.append(
        f"- Arithmetic, N={n_max}: LIMe-kv {acc['lime-kv']:.1f}% vs vanilla {acc['vanilla']:.1f}% exact match "
        "(paper, its own generator and 200 epochs: 71.6% vs 41.3%)."
    )
    return lines


def render_markdown(
    meta: dict[str, Any],
    lm_lines: list[str],
    ar_lines: list[str],
    lm: dict[str, Any],
    arith: dict[str, Any],
) -> str:
    lm_tokens = (
        meta["lm_train"]["max_steps"] * meta["lm_train"]["batch_size"] * meta["lm_context_size"]
    )
    return "\n".join(
        [
            "# LIMe claims reproduced at small scale (CPU)",
            "",
            f"Produced by `{meta['command']}` in {meta['wall_time_s'] / 60:.1f} min wall "
            f"({meta['jobs']} runs in parallel, one torch thread each; torch {meta['torch']}, {meta['machine']}).",
            "Raw numbers, loss curves and every run's config: `results/lime_reproduction.json`.",
            f"Seed-0 runs read from the shipped tiny models' `metrics.json` (identical recipe; `--retrain-shipped` "
            f"retrains them): {meta['reused'] or 'none'}.",
            "",
            "## 1. Language modelling (embedded Austen corpus, BPE-4096)",
            "",
            f"LIMe shape {meta['lm_shape']}; vanilla baseline d_mlp={meta['lm_baseline_shape']['d_mlp']} "
            f"(matched to both LIMe models). LLaMA-style (RMSNorm, rotary, gated SiLU MLP). Each run: "
            f"{lm_tokens:,} training tokens (rows of {meta['lm_context_size']}), trainer "
            f"`lime_lens.train.train` with {meta['lm_train']}; validation loss on the whole validation split.",
            "",
            *lm_lines,
            "",
            "## 2. Arithmetic expressions (paper size: 4 layers, 4 heads, d_model 32)",
            "",
            "Task: `lime_lens.arithmetic.ArithmeticTask()` (operands 0..9, `+ - *` with usual precedence, "
            "answer = value mod 10, character vocabulary, answer after `=`; module docstring of "
            "`lime_lens.arithmetic.generator`). One model per architecture trained on the mixture of N = 2..6 "
            f"(train/test expressions per N: {meta['arith_sizes']}); exact-match accuracy (%) on each N's "
            f"held-out expressions. Shape {meta['arith_shape']}; trainer settings {meta['arith_train']}. "
            "Chance is 10%.",
            "",
            *ar_lines,
            "",
            "## Comparison",
            "",
            *comparison_lines(lm, arith),
            "",
            "For scale: the paper's v2 language-modelling gain is 1.15% lower perplexity (0.0114 nats/token), measured "
            "at 1B parameters and ~50B tokens; here the models have 0.7M parameters and see 0.5M tokens.",
            "",
            "Settings were fixed before these runs and are the same for every architecture. Pilots: arithmetic "
            "300 steps at lr 1e-3 (both models, 11-32% by N, barely above chance at N=6) and 1500 steps at lr 5e-3 "
            "(vanilla only: 31.7 / 29.4 / 26.0 / 22.2 / 23.4% for N = 2..6, against 17.4% at N=6 in the 2000-step "
            "run above: run-to-run variation of several points, so single-seed arithmetic differences of that size "
            "mean nothing); language modelling used the paper's optimiser without pilots. Both tasks are far from "
            "converged at these budgets (training accuracy at N=6 is about 22%: the models underfit, not overfit).",
            "",
            "The tok/s columns are the trainer's wall-clock figure of each run on 2 CPU cores shared with other jobs "
            "(load average 4-9, changing during the runs; one torch thread per run), so they do not compare "
            "architectures: `OMP_NUM_THREADS=1 python benchmarks/bench_lime_trainer.py` alternates the models in one "
            "process for that.",
            "",
        ]
    )


if __name__ == "__main__":
    main()

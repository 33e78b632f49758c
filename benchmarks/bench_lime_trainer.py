"""Throughput of the trainer (``lime_lens.train.train``): vanilla vs LIMe-kv vs LIMe-residual-dynamic.

Shapes, rows and batch of the shipped tiny models, as their ``metrics.json`` recorded them
(``lime_lens.assets.tiny_model_metrics``: 4 layers, d_model 64, BPE-4096, 16 rows of 64 tokens
per step; the vanilla MLP widened to equal parameters). All models
live in one process and alternate rep by rep (rep 0 is a warm-up), so load drift on a shared
machine hits them alike. Reports the median over reps of the trainer's own ``tokens_per_s``
(wall clock, optimizer steps only) and of tokens per CPU-second of this process (robust to
other processes), with ratios to vanilla.

    OMP_NUM_THREADS=1 python benchmarks/bench_lime_trainer.py [--steps 40] [--repeats 3] [--out FILE]

Besides printing, writes the medians and ratios to ``--out`` (default
``results/benchmarks/lime_trainer.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from lime_lens.assets import load_corpus, load_tokenizer, tiny_model_metrics, tokenize_rows
from lime_lens.serialization import atomic_write_text
from lime_lens.train import TrainConfig, train
from lime_lens.train.architectures import ModelShape, build_model

SHIPPED = {"vanilla": "vanilla", "lime-kv": "lime", "lime-residual-dynamic": "dynamic"}
"""Benchmarked architecture -> the shipped tiny model whose recorded shape it uses."""
RESULT = Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "lime_trainer.json"


def time_trainers(
    shapes: dict[str, dict],
    rows: torch.Tensor,
    d_vocab: int,
    batch: int,
    context: int,
    steps: int,
    repeats: int,
) -> dict[str, dict[str, float]]:
    """Median trainer tokens/s (wall, and per CPU-second) per architecture over ``repeats``
    (after a warm-up), the architectures alternated within each repeat."""
    wall: dict[str, list[float]] = {arch: [] for arch in shapes}
    cpu: dict[str, list[float]] = {arch: [] for arch in shapes}
    for rep in range(repeats + 1):
        for arch, shape in shapes.items():
            model = build_model(arch, ModelShape(**shape), d_vocab, seed=rep)
            cfg = TrainConfig(
                max_steps=steps,
                batch_size=batch,
                warmup_steps=5,
                eval_interval=0,
                progress=False,
                seed=rep,
            )
            start = time.process_time()
            result = train(model, cfg, rows)
            if rep:
                wall[arch].append(result.tokens_per_s)
                cpu[arch].append(steps * batch * context / (time.process_time() - start))
    return {
        arch: {
            "wall_tokens_per_s": statistics.median(wall[arch]),
            "cpu_tokens_per_s": statistics.median(cpu[arch]),
        }
        for arch in shapes
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULT, help="JSON file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tokenizer = load_tokenizer()
    shipped = {arch: tiny_model_metrics(name) for arch, name in SHIPPED.items()}
    context, batch = (
        shipped["lime-kv"]["context_size"],
        shipped["lime-kv"]["train_config"]["batch_size"],
    )
    rows = tokenize_rows(load_corpus("train"), tokenizer, context)[: 100 * batch]
    shapes = {arch: metrics["model_shape"] for arch, metrics in shipped.items()}
    medians = time_trainers(shapes, rows, len(tokenizer), batch, context, args.steps, args.repeats)
    base = medians["vanilla"]
    print(f"{'model':>22} | trainer tok/s (wall) | ratio | tok per CPU-second | ratio")
    for arch, m in medians.items():
        m["wall_ratio"] = m["wall_tokens_per_s"] / base["wall_tokens_per_s"]
        m["cpu_ratio"] = m["cpu_tokens_per_s"] / base["cpu_tokens_per_s"]
        print(
            f"{arch:>22} | {m['wall_tokens_per_s']:20,.0f} | {m['wall_ratio']:5.2f} "
            f"| {m['cpu_tokens_per_s']:18,.0f} | {m['cpu_ratio']:5.2f}"
        )
    settings = {
        "steps": args.steps,
        "repeats": args.repeats,
        "batch_size": batch,
        "context_size": context,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "shapes": shapes,
    }
    atomic_write_text(
        args.out, json.dumps({"settings": settings, "median_over_repeats": medians}, indent=2)
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

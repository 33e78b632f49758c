"""Throughput of the trainer (``lime_lens.train.train``): vanilla vs LIMe-kv vs LIMe-residual-dynamic.

Shapes and batch of the shipped tiny models (``lime_lens.assets.pretrained``: 4 layers, d_model 64,
BPE-4096, 16 rows of 64 tokens per step; the vanilla MLP widened to equal parameters). All models
live in one process and alternate rep by rep (rep 0 is a warm-up), so load drift on a shared
machine hits them alike. Reports the median over reps of the trainer's own ``tokens_per_s``
(wall clock, optimizer steps only) and of tokens per CPU-second of this process (robust to
other processes), with ratios to vanilla.

    OMP_NUM_THREADS=1 python benchmarks/bench_lime_trainer.py [--steps 40] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lime_lens.assets import load_corpus, load_tokenizer
from lime_lens.assets.pretrained import TINY_CONTEXT_SIZE, TINY_SHAPE, matched_baseline_shape
from lime_lens.train import TrainConfig, train
from lime_lens.train.architectures import ModelShape, build_model
from lime_lens.train.data import tokenize_rows

BATCH = 16


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    tokenizer = load_tokenizer()
    rows = tokenize_rows(load_corpus("train"), tokenizer, TINY_CONTEXT_SIZE)[: 100 * BATCH]
    shapes = {
        "vanilla": matched_baseline_shape(len(tokenizer)),
        "lime-kv": TINY_SHAPE,
        "lime-residual-dynamic": TINY_SHAPE,
    }
    wall: dict[str, list[float]] = {arch: [] for arch in shapes}
    cpu: dict[str, list[float]] = {arch: [] for arch in shapes}
    for rep in range(args.repeats + 1):
        for arch, shape in shapes.items():
            model = build_model(arch, ModelShape(**shape), len(tokenizer), seed=rep)
            cfg = TrainConfig(
                max_steps=args.steps,
                batch_size=BATCH,
                warmup_steps=5,
                eval_interval=0,
                progress=False,
                seed=rep,
            )
            start = time.process_time()
            result = train(model, cfg, rows)
            if rep:
                wall[arch].append(result.tokens_per_s)
                cpu[arch].append(
                    args.steps * BATCH * TINY_CONTEXT_SIZE / (time.process_time() - start)
                )
    base_wall, base_cpu = statistics.median(wall["vanilla"]), statistics.median(cpu["vanilla"])
    print(f"{'model':>22} | trainer tok/s (wall) | ratio | tok per CPU-second | ratio")
    for arch in shapes:
        w, c = statistics.median(wall[arch]), statistics.median(cpu[arch])
        print(f"{arch:>22} | {w:20,.0f} | {w / base_wall:5.2f} | {c:18,.0f} | {c / base_cpu:5.2f}")


if __name__ == "__main__":
    main()

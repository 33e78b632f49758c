"""Real tokens/s of the step-task recipe: today's trainer vs packed rows vs N models in one step.

Recipe (LIMe v2 §5.3.2, ``lime_lens.arithmetic.step_recipe``): 4 layers, 4 heads, d_model 32,
batch 128 expressions, AdamW with the router at 10x lr. Rows of the training mixture (all tiers).
Side by side in one process, in one run:

- ``today``: ``lime_lens.train.train`` on right-padded rows, the four models of a study (LIMe-kv
  and vanilla, seeds 0 and 1) one after another;
- ``packed_n1``: ``lime_lens.train.multi_model.train_models`` on packed rows, one model;
- ``stacked_n4``: four models in one step on padded rows (the stacking effect alone);
- ``packed_n{2,4,8}``: N models (LIMe-kv / vanilla alternating, seeds 0..) in one step, packed;
- with ``--compile``: the same under ``torch.compile``.

Real tokens are the non-padding tokens of the examples trained (BOS to EOS). Reported per model
and in all (summed over the models trained), plus achieved GFLOP/s (useful FLOPs of real tokens,
formula in the JSON) against the CPU's peak as stated in the JSON. Target (issue 25): packed
N = 4 at 2 threads >= 5x ``today`` in all.

    python benchmarks/bench_small_models.py [--threads 2] [--steps 30] [--repeats 2] [--compile]
    python benchmarks/bench_small_models.py --smoke   # tiny task and steps: checks the script runs
    python benchmarks/bench_small_models.py --packing-only results/benchmarks/step_packing.json

Writes ``--out`` (default ``results/benchmarks/small_models.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from transformer_lens import HookedTransformer

from lime_lens.arithmetic.metrics import answer_loss
from lime_lens.arithmetic.packing import default_row_len, step_packing_stats
from lime_lens.arithmetic.step_recipe import STEP_SHAPE, STEP_TRAIN
from lime_lens.arithmetic.step_task import StepTask, make_step_splits
from lime_lens.arithmetic.step_vocab import encode_steps, step_vocab
from lime_lens.serialization import atomic_write_text
from lime_lens.train import TrainConfig, build_model, train
from lime_lens.train.architectures import ModelShape
from lime_lens.train.data import BatchOrder
from lime_lens.train.multi_model import Packing, StackOptions, train_models
from lime_lens.train.packing import example_lengths

RESULT = Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "small_models.json"
ARMS = ("lime-kv", "vanilla")


def cpu_peak(threads: int) -> dict[str, Any]:
    """fp32 peak of ``threads`` cores: clock x 32 FLOP/cycle (two 256-bit FMA pipes; AMD Zen 4
    runs AVX-512 on them, and Intel AVX2 cores have the same two), the clock from /proc/cpuinfo."""
    mhz, model = None, "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz") and mhz is None:
                mhz = float(line.split(":")[1])
            if line.startswith("model name"):
                model = line.split(":")[1].strip()
    except OSError:
        pass
    ghz = (mhz or 0.0) / 1000
    return {
        "cpu": model,
        "clock_ghz": ghz,
        "fp32_flop_per_cycle_per_core": 32,
        "threads": threads,
        "peak_gflops": ghz * 32 * threads,
        "assumption": "peak = threads x clock x 32 fp32 FLOP/cycle (2 FMA pipes x 8 lanes x 2)",
    }


def flops_per_real_token(shape: ModelShape, d_vocab: int, mean_keys: float) -> float:
    """Training FLOPs of one real token: 3 x forward (forward + backward), forward = 2 x matmul
    weights (QKV, O, gated MLP, unembedding) + 4 x n_layers x n_heads x d_head x mean keys read."""
    kv = shape.n_key_value_heads or shape.n_heads
    per_layer = shape.d_model * (shape.n_heads + 2 * kv) * shape.d_head
    per_layer += shape.n_heads * shape.d_head * shape.d_model + 3 * shape.d_model * shape.d_mlp
    matmul = shape.n_layers * per_layer + shape.d_model * d_vocab
    attention = 4 * shape.n_layers * shape.n_heads * shape.d_head * mean_keys
    return 3 * (2 * matmul + attention)


def models_for(n: int, d_vocab: int, shape: ModelShape) -> list[HookedTransformer]:
    return [build_model(ARMS[i % 2], shape, d_vocab, seed=i // 2) for i in range(n)]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_case(case: str, rows, cfg: TrainConfig, shape, d_vocab, row_len, compile_: bool) -> float:
    """Seconds of ``cfg.max_steps`` steps of ``case`` (all its models)."""
    if case == "today":
        models = models_for(4, d_vocab, shape)
        seconds = 0.0
        for m in models:  # answer_loss takes the step task's mapping rows
            seconds += timed(lambda m=m: train(m, cfg, rows, loss_fn=answer_loss))  # type: ignore[arg-type]
        return seconds
    n = int(case.rsplit("n", 1)[1])
    packing = Packing(row_len=row_len) if case.startswith("packed") else None
    options = StackOptions(packing=packing, compile=compile_)
    models = models_for(n, d_vocab, shape)
    return timed(lambda: train_models(models, [cfg] * n, rows, options))


def n_models(case: str) -> int:
    return 4 if case == "today" else int(case.rsplit("n", 1)[1])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats after a warm-up")
    parser.add_argument("--ns", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument(
        "--row-len", type=int, default=None, help="packed row (default: default_row_len)"
    )
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--smoke", action="store_true", help="tiny task and steps")
    parser.add_argument(
        "--packing-only",
        type=Path,
        default=None,
        metavar="FILE",
        help="write only the packing statistics (no timing) to FILE",
    )
    parser.add_argument("--out", type=Path, default=RESULT)
    return parser.parse_args()


def real_tokens(lengths: torch.Tensor, seed: int, n_examples: int) -> tuple[int, float]:
    """(real tokens of the ``n_examples`` examples every case trains per model, mean keys each
    real token's causal attention reads): the counts the rates and the FLOP formula use."""
    trained = lengths[BatchOrder(len(lengths), seed).indices(0, n_examples)]
    mean_keys = float((trained.float() * (trained.float() + 1) / 2).sum() / trained.sum())
    return int(trained.sum()), mean_keys


def write_packing_only(
    path: Path, task: StepTask, rows: dict[str, torch.Tensor], batch_size: int, row_len: int
) -> None:
    """``--packing-only``: counts only, no timing (safe to run while other work loads the CPU)."""
    padded_len = int(rows["tokens"].shape[1])
    stats = step_packing_stats(rows, batch_size, sorted({padded_len, row_len}), max_batches=None)
    record = {"task": vars(task), "default_row_len": row_len, **stats}
    atomic_write_text(path, json.dumps(record, indent=2, default=str))
    print(json.dumps(stats["by_row_len"], indent=1))


def time_cases(
    args: argparse.Namespace, repeats: int, rows, cfg: TrainConfig, d_vocab: int, row_len: int
) -> dict[str, list[float]]:
    """Seconds of every case (and, with ``--compile``, its compiled twin) per timed repeat."""
    cases = ["today", "packed_n1", "stacked_n4", *[f"packed_n{n}" for n in args.ns]]
    variants = [(c, False) for c in cases] + (
        [(c, True) for c in cases[1:]] if args.compile else []
    )
    seconds: dict[str, list[float]] = {}
    for rep in range(repeats + 1):  # rep 0 warms up (and compiles); cases alternate per repeat
        for case, compile_ in variants:
            s = run_case(case, rows, cfg, STEP_SHAPE, d_vocab, row_len, compile_)
            if rep:
                seconds.setdefault(case + ("_compiled" if compile_ else ""), []).append(s)
    return seconds


def case_rates(
    seconds: dict[str, list[float]], real_per_run: int, flops: float, peak_gflops: float
) -> dict[str, dict[str, Any]]:
    """Per case: median seconds, real tokens/s (per model, in all), GFLOP/s and x ``today``."""
    out: dict[str, Any] = {}
    for name, times in seconds.items():
        s, n = statistics.median(times), n_models(name.removesuffix("_compiled"))
        total = n * real_per_run / s
        out[name] = {
            "models": n,
            "seconds": s,
            "real_tokens_per_s_per_model": total / n,
            "real_tokens_per_s_in_all": total,
            "gflops": total * flops / 1e9,
            "share_of_peak": total * flops / 1e9 / peak_gflops if peak_gflops else None,
        }
    base = out["today"]["real_tokens_per_s_in_all"]
    for entry in out.values():
        entry["speedup_in_all_vs_today"] = entry["real_tokens_per_s_in_all"] / base
    return out


def run_settings(
    args: argparse.Namespace,
    task: StepTask,
    steps: int,
    repeats: int,
    cfg: TrainConfig,
    **lens: int,
) -> dict[str, Any]:
    """What ran: sizes, threads, versions and the load at the end (``lens``: the row lengths)."""
    return {
        "smoke": args.smoke,
        "steps": steps,
        "repeats": repeats,
        "batch_size": cfg.batch_size,
        "padded_row_len": lens["padded_row_len"],
        "packed_row_len": lens["packed_row_len"],
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "shape": vars(STEP_SHAPE),
        "task": {k: v for k, v in vars(task).items()},
    }


def print_rates(out: dict[str, dict[str, Any]]) -> None:
    for name, e in out.items():
        print(
            f"{name:>22}: {e['real_tokens_per_s_in_all']:>10,.0f} real tok/s in all, "
            f"{e['real_tokens_per_s_per_model']:>9,.0f} per model, {e['gflops']:6.1f} GFLOP/s, "
            f"x{e['speedup_in_all_vs_today']:.2f}"
        )


def main() -> None:
    args = parse_args()
    # Threads are set here, in the entry point, never in library code (the caller owns them).
    # torch's default is one per core; stated explicitly so the JSON says what ran.
    torch.set_num_threads(args.threads)
    task = StepTask(n_operands=(3, 4), n_train=300, n_test=4) if args.smoke else StepTask()
    steps, repeats = (2, 1) if args.smoke else (args.steps, args.repeats)
    splits = make_step_splits(task)
    rows = encode_steps([ex for tr, _ in splits.values() for ex in tr], step_vocab())
    d_vocab, padded_len = len(step_vocab()), int(rows["tokens"].shape[1])
    cfg = TrainConfig(**{**STEP_TRAIN, "max_steps": steps}, progress=False)
    lengths = example_lengths(rows["tokens"], 0)
    row_len = args.row_len or default_row_len(lengths)
    if args.packing_only is not None:
        write_packing_only(args.packing_only, task, rows, cfg.batch_size, row_len)
        return
    seconds = time_cases(args, repeats, rows, cfg, d_vocab, row_len)
    real_per_run, mean_keys = real_tokens(lengths, cfg.seed, steps * cfg.batch_size)
    flops = flops_per_real_token(STEP_SHAPE, d_vocab, mean_keys)
    peak = cpu_peak(args.threads)
    out = case_rates(seconds, real_per_run, flops, peak["peak_gflops"])
    target = out.get("packed_n4", {}).get("speedup_in_all_vs_today")
    settings = run_settings(
        args, task, steps, repeats, cfg, padded_row_len=padded_len, packed_row_len=row_len
    )
    record = {
        "settings": settings,
        "flops_per_real_token": flops,
        "flops_formula": flops_per_real_token.__doc__,
        "cpu_peak": peak,
        "packing": step_packing_stats(rows, cfg.batch_size, sorted({padded_len, row_len})),
        "cases": out,
        "target": {
            "packed_n4_vs_today_in_all": 5.0,
            "reached": target,
            "met": bool(target and target >= 5),
        },
    }
    atomic_write_text(args.out, json.dumps(record, indent=2, default=str))
    print_rates(out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

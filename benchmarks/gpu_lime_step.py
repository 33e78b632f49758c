"""LIMe vs vanilla HookedTransformer on one CUDA GPU: forward and training step, bf16.

The models and batches of ``bench_lime.py`` (LLaMA-style, 8 layers, d_model 256, 8 heads,
sequence 256, batch 8, same seed for every model), moved to CUDA in bfloat16 (``--precision
bf16``, the default: weights, activations and AdamW state in bf16) or with float32 weights
under ``torch.autocast(dtype=torch.bfloat16)`` (``--precision autocast``, what the LIMe trainer
uses on CUDA). Forward: ``model(tokens)`` under ``torch.no_grad``; training step: loss forward,
backward, AdamW step, zero_grad. Models alternate step by step; ``--warmup`` steps, then the
median of ``--steps`` CUDA-event timings. Peak memory: ``torch.cuda.max_memory_allocated``
over the timed training steps of each model, measured one model at a time.

    python benchmarks/gpu_lime_step.py --out results/gpu/lime_step.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from bench_lime import BATCH, D_MODEL, N_LAYERS, SEQ, VARIANTS, build, data, train_setup, train_step

from saelens_hierarchical.atomic_write import write_atomic

DEVICE = "cuda"  # tests/test_gpu_check.py times the quick models on CPU (wall clock)


def cuda_ms(fn: Callable[..., Any], *args: Any) -> float:
    """Milliseconds of fn(*args): CUDA events on CUDA, the wall clock elsewhere."""
    if DEVICE != "cuda":
        start_s = time.perf_counter()
        fn(*args)
        return (time.perf_counter() - start_s) * 1000
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn(*args)
    end.record()
    end.synchronize()
    return start.elapsed_time(end)


def prepared(variant: str, precision: str) -> torch.nn.Module:
    model = build(variant, None).to(DEVICE)
    return model.to(torch.bfloat16) if precision == "bf16" else model


def time_models(
    variants: list[str], warmup: int, steps: int, precision: str = "bf16"
) -> dict[str, dict[str, float]]:
    models = {v: prepared(v, precision) for v in variants}
    optimizers = {v: train_setup(m) for v, m in models.items()}
    batches = [t.to(DEVICE) for t in data(4)]
    times: dict[str, dict[str, list[float]]] = {v: {"forward": [], "train": []} for v in variants}
    for i in range(warmup + steps):
        tokens = batches[i % len(batches)]
        for v, model in models.items():
            with torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=precision == "autocast"):
                with torch.no_grad():
                    fwd = cuda_ms(model, tokens)
                step = cuda_ms(train_step, model, optimizers[v], tokens)
            if i >= warmup:
                times[v]["forward"].append(fwd)
                times[v]["train"].append(step)
    return {v: {f"{k}_ms": statistics.median(x) for k, x in t.items()} for v, t in times.items()}


def peak_memory(variant: str, steps: int, precision: str) -> float:
    model = prepared(variant, precision)
    optimizer = train_setup(model)
    tokens = data(1)[0].to("cuda")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    for _ in range(steps):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "autocast"):
            train_step(model, optimizer, tokens)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 2**20
    del model, optimizer
    torch.cuda.empty_cache()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--precision", choices=["bf16", "autocast"], default="bf16")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_lime_step.py needs a CUDA device")
    variants = list(VARIANTS)
    results = time_models(variants, args.warmup, args.steps, args.precision)
    for v in variants:
        results[v]["peak_mib"] = peak_memory(v, 2, args.precision)
    base = results["vanilla"]
    ratios = {v: {k: r[k] / base[k] for k in r} for v, r in results.items()}
    payload = {
        "benchmark": "gpu_lime_step",
        "settings": {
            "n_layers": N_LAYERS, "d_model": D_MODEL, "seq": SEQ, "batch": BATCH,
            "precision": args.precision, "warmup": args.warmup,
            "steps": args.steps, "device": torch.cuda.get_device_name(),
            "torch": torch.__version__, "load_average_at_start": os.getloadavg(),
        },
        "results": results,
        "ratios_vs_vanilla": ratios,
    }  # fmt: skip
    print(json.dumps(payload, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out, json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""LIMe vs vanilla HookedTransformer on one CUDA GPU: forward and training step, bf16.

The models and batches of ``bench_lime.py`` (LLaMA-style, 8 layers, d_model 256, 8 heads,
sequence 256, batch 8, same seed for every model), moved to CUDA with float32 weights and
run under ``torch.autocast("cuda", dtype=torch.bfloat16)``: the usual mixed-precision
training. Forward: ``model(tokens)`` under ``torch.no_grad``; training step: loss forward,
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from bench_lime import BATCH, D_MODEL, N_LAYERS, SEQ, VARIANTS, build, data, train_setup, train_step

from saelens_hierarchical.atomic_write import write_atomic


def cuda_ms(fn: Callable[..., Any], *args: Any) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn(*args)
    end.record()
    end.synchronize()
    return start.elapsed_time(end)


def time_models(variants: list[str], warmup: int, steps: int) -> dict[str, dict[str, float]]:
    models = {v: build(v, None).to("cuda") for v in variants}
    optimizers = {v: train_setup(m) for v, m in models.items()}
    batches = [t.to("cuda") for t in data(4)]
    times: dict[str, dict[str, list[float]]] = {v: {"forward": [], "train": []} for v in variants}
    for i in range(warmup + steps):
        tokens = batches[i % len(batches)]
        for v, model in models.items():
            with torch.autocast("cuda", dtype=torch.bfloat16):
                with torch.no_grad():
                    fwd = cuda_ms(model, tokens)
                step = cuda_ms(train_step, model, optimizers[v], tokens)
            if i >= warmup:
                times[v]["forward"].append(fwd)
                times[v]["train"].append(step)
    return {v: {f"{k}_ms": statistics.median(x) for k, x in t.items()} for v, t in times.items()}


def peak_memory(variant: str, steps: int) -> float:
    model = build(variant, None).to("cuda")
    optimizer = train_setup(model)
    tokens = data(1)[0].to("cuda")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    for _ in range(steps):
        with torch.autocast("cuda", dtype=torch.bfloat16):
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
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_lime_step.py needs a CUDA device")
    variants = list(VARIANTS)
    results = time_models(variants, args.warmup, args.steps)
    for v in variants:
        results[v]["peak_mib"] = peak_memory(v, 2)
    base = results["vanilla"]
    ratios = {v: {k: r[k] / base[k] for k in r} for v, r in results.items()}
    payload = {
        "benchmark": "gpu_lime_step",
        "settings": {
            "n_layers": N_LAYERS, "d_model": D_MODEL, "seq": SEQ, "batch": BATCH,
            "precision": "float32 weights, bf16 autocast", "warmup": args.warmup,
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

"""HierarchicalTopK vs SAELens TopK on one CUDA GPU: full training step time and peak memory.

Setting (the official kernel's benchmark shape): d_sae F=65,536, d_in D=2,304, batch 4,096,
K in {32, 64, 128}, SAE weights in float32 and in bfloat16. One step = SAELens
``SAETrainer._train_step``'s body: training_forward_pass, backward, grad-norm clip at 1.0,
Adam step, zero_grad. Variants, same seed (same weights), same batches:

* ``topk``       SAELens ``TopKTrainingSAE`` (dense [B, F] @ W_dec decode): the baseline
* ``triton``     ``hierarchical_topk``, ``loss_impl="triton"`` (atomic W_dec gradient)
* ``triton_det`` the same with ``deterministic=True`` (fixed-order W_dec gradient)
* ``chunked``    ``loss_impl="chunked"`` (plain torch, 4 latents per step)
* ``reference``  ``loss_impl="reference"`` ([B, K, D] prefixes; skipped if out of memory)

Time: ``--warmup`` steps, then ``--steps`` steps each timed by CUDA events; the median is
reported. Memory: ``torch.cuda.max_memory_allocated`` over the timed steps (reset after
set-up, so weights, Adam state and the batch are in it: "peak"), and that minus the memory
allocated before the steps ("step"). Each row is appended to ``--out`` (JSON) as soon as it
is measured, so a run cut short by its timeout keeps what it measured.

    python benchmarks/gpu_htopk_step.py --out results/gpu/htopk_step.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any, cast

import torch
from sae_lens.saes.sae import TrainingSAE, TrainStepInput
from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig

from saelens_hierarchical import HierarchicalTopKTrainingSAE, HierarchicalTopKTrainingSAEConfig
from saelens_hierarchical.atomic_write import write_atomic
from saelens_hierarchical.config import LossImpl

D_IN, D_SAE, BATCH = 2304, 65536, 4096
DEVICE = "cuda"  # tests/test_gpu_check.py builds and steps every variant on CPU at tiny sizes
VARIANTS = ("topk", "triton", "triton_det", "chunked", "reference")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def build(variant: str, k: int, dtype: str) -> tuple[TrainingSAE, torch.optim.Optimizer]:
    torch.manual_seed(0)
    common: dict[str, Any] = dict(d_in=D_IN, d_sae=D_SAE, k=k, dtype=dtype, device=DEVICE)
    if variant == "topk":
        sae: TrainingSAE = TopKTrainingSAE(TopKTrainingSAEConfig(**common))
    else:
        impl = cast(LossImpl, "triton" if variant.startswith("triton") else variant)
        sae = HierarchicalTopKTrainingSAE(
            HierarchicalTopKTrainingSAEConfig(**common, loss_impl=impl)
        )
    optimizer = torch.optim.Adam(sae.parameters(), lr=1e-4)
    for p in sae.parameters():  # Adam state allocated up front (a zero-gradient step)
        p.grad = torch.zeros_like(p)
    optimizer.step()
    optimizer.zero_grad()
    return sae, optimizer


def train_step(sae: TrainingSAE, optimizer: torch.optim.Optimizer, sae_in: torch.Tensor) -> None:
    dead = torch.zeros(D_SAE, dtype=torch.bool, device=DEVICE)
    output = sae.training_forward_pass(TrainStepInput(sae_in, {}, dead, 0, False))
    output.loss.backward()
    torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad()


def measure(variant: str, k: int, dtype: str, warmup: int, steps: int) -> dict[str, Any]:
    """One variant: median step ms (CUDA events) and peak / per-step memory (MiB)."""
    setup_start = time.perf_counter()
    sae, optimizer = build(variant, k, dtype)
    gen = torch.Generator(device="cuda").manual_seed(1)
    data = [
        torch.randn(BATCH, D_IN, device="cuda", dtype=DTYPES[dtype], generator=gen)
        for _ in range(4)
    ]
    deterministic = variant == "triton_det"
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    try:
        for i in range(warmup):
            train_step(sae, optimizer, data[i % len(data)])
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        times = []
        for i in range(steps):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            train_step(sae, optimizer, data[i % len(data)])
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        peak = torch.cuda.max_memory_allocated()
    finally:
        torch.use_deterministic_algorithms(False)
    return {
        "step_ms": statistics.median(times),
        "step_ms_min": min(times),
        "step_ms_max": max(times),
        "peak_mib": peak / 2**20,
        "step_mib": (peak - before) / 2**20,
        "setup_and_warmup_s": time.perf_counter() - setup_start - sum(times) / 1000,
    }


def run_one(variant: str, k: int, dtype: str, args: argparse.Namespace) -> dict[str, Any]:
    row: dict[str, Any] = {"K": k, "dtype": dtype, "variant": variant}
    try:
        row.update(measure(variant, k, dtype, args.warmup, args.steps), status="ok")
    except torch.cuda.OutOfMemoryError:
        row["status"] = "out of memory"
    except Exception as error:  # recorded, so one failing variant keeps the others
        row.update(status="failed", error=f"{type(error).__name__}: {error}"[:2000])
    gc.collect()
    torch.cuda.empty_cache()
    return row


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """time_ratio / peak_ratio / step_mem_ratio: each row over topk at the same K and dtype."""
    base = {(r["K"], r["dtype"]): r for r in rows if r["variant"] == "topk" and "step_ms" in r}
    for r in rows:
        b = base.get((r["K"], r["dtype"]))
        if b is not None and "step_ms" in r:
            r["time_ratio"] = r["step_ms"] / b["step_ms"]
            r["peak_ratio"] = r["peak_mib"] / b["peak_mib"]
            r["step_mem_ratio"] = r["step_mib"] / b["step_mib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file (rewritten per row)")
    parser.add_argument("--ks", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--dtypes", nargs="+", default=["bfloat16", "float32"], choices=DTYPES)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_htopk_step.py needs a CUDA device")
    settings = {
        "d_in": D_IN, "d_sae": D_SAE, "batch": BATCH, "warmup": args.warmup,
        "steps": args.steps, "device": torch.cuda.get_device_name(), "torch": torch.__version__,
        "load_average_at_start": os.getloadavg(),
    }  # fmt: skip
    runs = [(v, k, d) for d in args.dtypes for k in args.ks for v in args.variants]
    rows: list[dict[str, Any]] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for variant, k, dtype in runs:
        rows.append(run_one(variant, k, dtype, args))
        add_ratios(rows)
        print(json.dumps(rows[-1]), flush=True)
        payload = {"benchmark": "gpu_htopk_step", "settings": settings, "rows": rows}
        write_atomic(args.out, json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""HierarchicalTopK vs SAELens TopK: full training step time and peak memory, side by side.

Setting: d_in=512, d_sae=8192, batch 4096, float32, CPU, K in {32, 64, 128};
one training step = SAELens's ``SAETrainer._train_step`` body (training_forward_pass, backward,
grad-norm clip at 1.0, Adam step, zero_grad). Variants, built from the same seed (same weights)
and fed the same batches:

* ``topk``       SAELens ``TopKTrainingSAE`` (dense [B, F] @ W_dec decode)
* ``fused``      ``hierarchical_topk`` with the memory-flat prefix walk (the default)
* ``reference``  ``hierarchical_topk`` with the naive cumsum reference ([B, K, D] prefixes)
* ``chunked``    (only with ``--variants``) the walk 4 latents per step, the CUDA default

Time: all variants live in one process and alternate step by step, so machine load drifts
hit them alike; the median of ``--repeats`` steps after one warm-up step is reported.
Memory: each variant runs in a fresh subprocess (Linux). After setup (weights, Adam state and
data allocated) it resets the kernel's RSS high-water mark (``/proc/self/clear_refs`` = 5),
runs two steps and reads ``VmHWM`` from ``/proc/self/status``: "peak" is that whole-process
peak RSS, "step" is the peak minus the RSS before the steps, i.e. what a step adds.
(``getrusage`` ru_maxrss is not used: Linux carries it over from the parent across exec.)

The table is printed, and the same rows with their ratios to ``topk`` are written as JSON to
``--out`` (default ``results/benchmarks/hierarchical_topk.json``, replaced atomically).

Triton (``loss_impl="triton"``) is not timed on CPU: its kernels run there only under Triton's
interpreter, a correctness tool (about 0.15 s per latent per [16, 128] tile, so the check is
small). ``--triton-check`` (or ``--triton-check-only``, which keeps the timed rows already in
``--out``) runs one training step of a ``hierarchical_topk`` SAE (d_in 128, d_sae 1024, K 16,
batch 16) with ``loss_impl="triton"`` under TRITON_INTERPRET=1 in a subprocess, and records the
largest difference of its loss, reconstruction and every parameter gradient from the fused
path (relative to that tensor's largest magnitude).

    OMP_NUM_THREADS=1 python benchmarks/bench_hierarchical_topk.py [--repeats 5] [--ks 32 64 128]
    OMP_NUM_THREADS=1 python benchmarks/bench_hierarchical_topk.py --triton-check-only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import torch
from sae_lens.saes.sae import TrainingSAE, TrainStepInput
from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig

from saelens_hierarchical import HierarchicalTopKTrainingSAE, HierarchicalTopKTrainingSAEConfig
from saelens_hierarchical.atomic_write import write_atomic
from saelens_hierarchical.config import LossImpl

D_IN, D_SAE, BATCH = 512, 8192, 4096
VARIANTS = ("topk", "fused", "reference")  # run by default
CHOICES = (*VARIANTS, "chunked")  # chunked: the CUDA default, measurable on CPU too
DEFAULT_OUT = (
    Path(__file__).resolve().parent.parent / "results" / "benchmarks" / "hierarchical_topk.json"
)


def build(variant: str, k: int) -> tuple[TrainingSAE, torch.optim.Optimizer]:
    torch.manual_seed(0)  # same weights for every variant
    if variant == "topk":
        sae: TrainingSAE = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=D_IN, d_sae=D_SAE, k=k))
    else:
        impl = cast(LossImpl, variant)  # a CHOICES entry; the config checks it again
        cfg = HierarchicalTopKTrainingSAEConfig(d_in=D_IN, d_sae=D_SAE, k=k, loss_impl=impl)
        sae = HierarchicalTopKTrainingSAE(cfg)
    optimizer = torch.optim.Adam(sae.parameters(), lr=1e-4)
    for p in sae.parameters():  # allocate Adam state up front (a zero-gradient step is a no-op)
        p.grad = torch.zeros_like(p)
    optimizer.step()
    optimizer.zero_grad()
    return sae, optimizer


def batches(n: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.randn(BATCH, D_IN, generator=generator) for _ in range(n)]


def train_step(sae: TrainingSAE, optimizer: torch.optim.Optimizer, sae_in: torch.Tensor) -> float:
    """Body of SAELens ``SAETrainer._train_step``, minus its firing statistics; seconds."""
    start = time.perf_counter()
    dead = torch.zeros(D_SAE, dtype=torch.bool)
    output = sae.training_forward_pass(TrainStepInput(sae_in, {}, dead, 0, False))
    output.loss.backward()
    torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad()
    return time.perf_counter() - start


def time_variants(k: int, repeats: int, variants: tuple[str, ...]) -> dict[str, float]:
    built = {v: build(v, k) for v in variants}
    data = batches(repeats + 1)
    times: dict[str, list[float]] = {v: [] for v in variants}
    for i, sae_in in enumerate(data):
        for v in variants:
            elapsed = train_step(*built[v], sae_in)
            if i > 0:  # step 0 is the warm-up
                times[v].append(elapsed)
    return {v: statistics.median(t) for v, t in times.items()}


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} missing from /proc/self/status (Linux only)")


def measure_memory(variant: str, k: int) -> dict[str, float]:
    """Run in a fresh process: peak RSS (MiB) over two steps, and its rise over setup."""
    sae, optimizer = build(variant, k)
    data = batches(2)
    before = _status_mib("VmRSS")
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # reset VmHWM to the current RSS: the peak below is the steps'
    for sae_in in data:
        train_step(sae, optimizer, sae_in)
    peak = _status_mib("VmHWM")
    return {"peak_mib": peak, "step_mib": peak - before}


def memory_in_subprocess(variant: str, k: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--memory-child", variant, str(k)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True)
    print(f"  [{variant} K={k}] {result.stdout.strip()}", file=sys.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def rows_for_k(k: int, repeats: int, variants: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per variant at K=k: step time, peak and per-step memory, and their ratios to topk
    (None when topk is not among the variants)."""
    seconds = time_variants(k, repeats, variants)
    memory = {v: memory_in_subprocess(v, k) for v in variants}
    base_t, base_m = seconds.get("topk"), memory.get("topk")
    rows = []
    for v in variants:
        t, m = seconds[v], memory[v]
        rows.append(
            {
                "K": k,
                "variant": v,
                "step_s": t,
                "peak_mib": m["peak_mib"],
                "step_mib": m["step_mib"],
                "time_ratio": t / base_t if base_t else None,
                "peak_ratio": m["peak_mib"] / base_m["peak_mib"] if base_m else None,
                "step_mem_ratio": m["step_mib"] / base_m["step_mib"] if base_m else None,
            }
        )
    return rows


CHECK_BATCH, CHECK_D_IN, CHECK_D_SAE = 16, 128, 1024


def triton_check(k: int) -> dict[str, Any]:
    """Run in a child with TRITON_INTERPRET=1: one training step with loss_impl triton vs fused."""
    gen = torch.Generator().manual_seed(1)
    sae_in = torch.randn(CHECK_BATCH, CHECK_D_IN, generator=gen)
    dead = torch.zeros(CHECK_D_SAE, dtype=torch.bool)
    outs = {}
    for impl in ("fused", "triton"):
        torch.manual_seed(0)
        cfg = HierarchicalTopKTrainingSAEConfig(
            d_in=CHECK_D_IN, d_sae=CHECK_D_SAE, k=k, loss_impl=impl
        )
        sae = HierarchicalTopKTrainingSAE(cfg)
        start = time.perf_counter()
        out = sae.training_forward_pass(TrainStepInput(sae_in, {}, dead, 0, False))
        out.loss.backward()
        grads = {n: p.grad for n, p in sae.named_parameters() if p.grad is not None}
        outs[impl] = (out.loss, out.sae_out, grads, time.perf_counter() - start)

    def rel(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))

    (f_loss, f_out, f_grads, f_s), (t_loss, t_out, t_grads, t_s) = outs["fused"], outs["triton"]
    return {
        "K": k, "batch": CHECK_BATCH, "d_in": CHECK_D_IN, "d_sae": CHECK_D_SAE,
        "rel_diff": {"loss": rel(t_loss, f_loss), "sae_out": rel(t_out, f_out),
                     **{f"grad_{n}": rel(t_grads[n], g) for n, g in f_grads.items()}},
        "interpreter_step_s": t_s, "fused_step_s": f_s,
    }  # fmt: skip


def triton_check_in_subprocess(k: int) -> dict[str, Any]:
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    cmd = [sys.executable, __file__, "--triton-child", str(k)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(result.stdout.strip().splitlines()[-1])


def format_row(row: dict[str, Any]) -> str:
    def ratio(value: float | None, width: int) -> str:
        return f"{value:{width}.3f}" if value is not None else f"{'-':>{width}}"

    return (
        f"{row['K']:>4} {row['variant']:>10} {row['step_s']:8.3f} {ratio(row['time_ratio'], 9)} "
        f"{row['peak_mib']:9.0f} {ratio(row['peak_ratio'], 9)} {row['step_mib']:9.0f} "
        f"{ratio(row['step_mem_ratio'], 12)}"
    )


def write_json(
    out: Path, settings: dict[str, Any], rows: list[dict[str, Any]], extra: dict[str, Any]
) -> None:
    """The settings and every row (with its ratios to topk), replacing ``out`` atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": "bench_hierarchical_topk", "settings": settings, "rows": rows}
    write_atomic(out, json.dumps(payload | extra, indent=2) + "\n")


def run_triton_check(k: int) -> dict[str, Any]:
    check = triton_check_in_subprocess(k)
    worst = max(check["rel_diff"].values())
    print(f"triton (interpreter) vs fused, K={k}, batch {check['batch']}: largest relative "
          f"difference {worst:.2e} over loss, sae_out and every gradient")  # fmt: skip
    return {"triton_interpreter_check": check}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=CHOICES)
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="JSON file for the rows and ratios"
    )
    parser.add_argument("--triton-check", action="store_true", help="also the Triton check")
    parser.add_argument(
        "--triton-check-only", action="store_true", help="only the Triton check, kept rows"
    )
    parser.add_argument("--triton-check-k", type=int, default=16)
    parser.add_argument("--memory-child", nargs=2, metavar=("VARIANT", "K"), help=argparse.SUPPRESS)
    parser.add_argument("--triton-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        print(json.dumps(measure_memory(args.memory_child[0], int(args.memory_child[1]))))
        return
    if args.triton_child:
        print(json.dumps(triton_check(args.triton_child)))
        return
    if args.triton_check_only:
        kept = json.loads(args.out.read_text())
        extra = run_triton_check(args.triton_check_k)
        write_json(args.out, kept["settings"], kept["rows"], extra)
        print(f"wrote {args.out}")
        return
    variants = tuple(args.variants)
    settings = {
        "d_in": D_IN,
        "d_sae": D_SAE,
        "batch": BATCH,
        "dtype": "float32",
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "ks": args.ks,
        "variants": list(variants),
        "torch": torch.__version__,
        # Other work on the machine shifts both sides of a ratio, not always equally.
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
    }
    print(
        f"d_in={D_IN} d_sae={D_SAE} batch={BATCH} float32 CPU threads={torch.get_num_threads()} "
        f"repeats={args.repeats}"
    )
    print(
        f"{'K':>4} {'variant':>10} {'step s':>8} {'time/topk':>9} {'peak MiB':>9} {'peak/topk':>9} "
        f"{'step MiB':>9} {'stepmem/topk':>12}"
    )
    rows = []
    for k in args.ks:
        for row in rows_for_k(k, args.repeats, variants):
            print(format_row(row), flush=True)
            rows.append(row)
    extra = run_triton_check(args.triton_check_k) if args.triton_check else {}
    write_json(args.out, settings, rows, extra)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

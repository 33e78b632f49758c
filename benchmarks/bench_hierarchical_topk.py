"""HierarchicalTopK vs SAELens TopK: full training step time and peak memory, side by side.

Issue 3 "Performance": d_in=512, d_sae=8192, batch 4096, float32, CPU, K in {32, 64, 128};
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

    OMP_NUM_THREADS=1 python benchmarks/bench_hierarchical_topk.py [--repeats 5] [--ks 32 64 128]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch
from sae_lens.saes.sae import TrainStepInput, TrainingSAE
from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig

from saelens_hierarchical import HierarchicalTopKTrainingSAE, HierarchicalTopKTrainingSAEConfig

D_IN, D_SAE, BATCH = 512, 8192, 4096
VARIANTS = ("topk", "fused", "reference")  # run by default
CHOICES = (*VARIANTS, "chunked")  # chunked: the CUDA default, measurable on CPU too


def build(variant: str, k: int) -> tuple[TrainingSAE, torch.optim.Optimizer]:
    torch.manual_seed(0)  # same weights for every variant
    if variant == "topk":
        sae: TrainingSAE = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=D_IN, d_sae=D_SAE, k=k))
    else:
        cfg = HierarchicalTopKTrainingSAEConfig(d_in=D_IN, d_sae=D_SAE, k=k, loss_impl=variant)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=CHOICES)
    parser.add_argument("--memory-child", nargs=2, metavar=("VARIANT", "K"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        print(json.dumps(measure_memory(args.memory_child[0], int(args.memory_child[1]))))
        return
    variants = tuple(args.variants)
    print(f"d_in={D_IN} d_sae={D_SAE} batch={BATCH} float32 CPU threads={torch.get_num_threads()} "
          f"repeats={args.repeats}")
    header = f"{'K':>4} {'variant':>10} {'step s':>8} {'time/topk':>9} {'peak MiB':>9} {'peak/topk':>9} {'step MiB':>9} {'stepmem/topk':>12}"
    print(header)
    for k in args.ks:
        seconds = time_variants(k, args.repeats, variants)
        memory = {v: memory_in_subprocess(v, k) for v in variants}
        base_t = seconds.get("topk")
        base_m = memory.get("topk")
        for v in variants:
            t, m = seconds[v], memory[v]
            t_ratio = f"{t / base_t:9.3f}" if base_t else f"{'-':>9}"
            p_ratio = f"{m['peak_mib'] / base_m['peak_mib']:9.3f}" if base_m else f"{'-':>9}"
            s_ratio = f"{m['step_mib'] / base_m['step_mib']:12.3f}" if base_m else f"{'-':>12}"
            print(f"{k:>4} {v:>10} {t:8.3f} {t_ratio} {m['peak_mib']:9.0f} {p_ratio} {m['step_mib']:9.0f} {s_ratio}", flush=True)


if __name__ == "__main__":
    main()

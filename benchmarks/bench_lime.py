"""LIMe vs vanilla HookedTransformer: forward, training step, KV-cached generation, training memory.

Performance targets: LLaMA-style (RMSNorm, rotary, gated SiLU MLP), 8 layers, d_model 256,
8 heads, sequence 256, batch 8, float32, CPU. Targets for LIMe-kv / vanilla: forward <= 1.05,
training step <= 1.10, generation tokens/s >= 0.95, peak training memory <= 1.10. The
residual-dynamic (paper v1) figures are reported too. Every model is built from the same seed,
so the shared weights are identical; they see the same token batches.

Time: all models live in one process and alternate rep by rep, so machine-load drift hits them
alike; the median and the best of ``--repeats`` reps after a warm-up are reported. ``--clock cpu``
(default) times the CPU time of the (single) compute thread, which other processes on a shared,
loaded machine barely disturb; ``--clock wall`` times wall-clock seconds.
- forward: ``model(tokens)`` under ``torch.no_grad``;
- training step: loss forward, backward, AdamW step, zero_grad;
- generation: ``generate`` with the KV cache, greedy, ``--new-tokens`` after a ``--prompt``-token
  prompt of the same batch, in tokens/s.
Memory: each model runs in a fresh subprocess (Linux). After setup (weights, AdamW state, data)
it resets the RSS high-water mark (``/proc/self/clear_refs`` = 5), runs two training steps and
reads ``VmHWM``; "step" is that peak minus the RSS before the steps (what training adds).
RSS depends on the allocator, so the deterministic "saved" figure is also reported: the bytes of
the distinct storages autograd saves for backward in one training step (activation memory).

    OMP_NUM_THREADS=1 python benchmarks/bench_lime.py [--repeats 5] [--n-kv-heads 8] [--out FILE]

Besides printing, writes every figure and the ratios to ``--out`` (default
``results/benchmarks/lime.json``, or ``lime_gqa.json`` with fewer K/V heads than heads).
``--quick`` shrinks the models and the run to check the script in seconds; it writes JSON
only to an explicit ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from lime_lens import HookedLIMeTransformer, LIMeConfig
from lime_lens.serialization import atomic_write_text
from lime_lens.tl.vanilla_attention import use_fused_attention

warnings.filterwarnings("ignore")
N_LAYERS, D_MODEL, N_HEADS, SEQ, BATCH, D_VOCAB = 8, 256, 8, 256, 8, 4096
QUICK = dict(N_LAYERS=2, D_MODEL=64, N_HEADS=4, SEQ=32, BATCH=2)
"""Module sizes under ``--quick`` (a smoke run, not a measurement)."""
RESULTS = Path(__file__).resolve().parents[1] / "results" / "benchmarks"
TARGETS = {"forward": 1.05, "train": 1.10, "gen": 0.95, "peak_mib": 1.10}
"""lime-kv / vanilla: at most (forward, train, peak memory) or at least (gen tok/s) these ratios."""
VARIANTS = {
    "vanilla": None,
    "lime-kv": ("kv", "static"),
    "lime-residual-dynamic": ("residual", "dynamic"),
}


def build(variant: str, n_kv_heads: int | None) -> HookedTransformer:
    fields: dict[str, Any] = dict(
        n_layers=N_LAYERS,
        d_model=D_MODEL,
        n_heads=N_HEADS,
        d_head=D_MODEL // N_HEADS,
        n_key_value_heads=n_kv_heads if n_kv_heads != N_HEADS else None,
        d_mlp=4 * D_MODEL,
        d_vocab=D_VOCAB,
        n_ctx=SEQ,
        act_fn="silu",
        gated_mlp=True,
        normalization_type="RMS",
        final_rms=True,
        positional_embedding_type="rotary",
        device="cpu",
        seed=0,
    )
    mode = VARIANTS[variant]
    if mode is None:  # the fused path, as LIMe's default "auto" (SDPA when no pattern hook)
        return use_fused_attention(HookedTransformer(HookedTransformerConfig(**fields)))
    return HookedLIMeTransformer(LIMeConfig(**fields, lime_mode=mode[0], lime_lookup=mode[1]))


def data(n: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return [torch.randint(0, D_VOCAB, (BATCH, SEQ), generator=gen) for _ in range(n)]


def train_setup(model: HookedTransformer) -> torch.optim.Optimizer:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    for p in model.parameters():  # allocate AdamW state up front
        p.grad = torch.zeros_like(p)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return optimizer


def train_step(
    model: HookedTransformer, optimizer: torch.optim.Optimizer, tokens: torch.Tensor
) -> None:
    model(tokens, return_type="loss").backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}
clock = CLOCKS["cpu"]


def timed(fn, *args, **kwargs) -> float:
    start = clock()
    fn(*args, **kwargs)
    return clock() - start


def time_all(
    variants: list[str], n_kv: int | None, repeats: int, prompt: int, new_tokens: int
) -> dict:
    models = {v: build(v, n_kv) for v in variants}
    optimizers = {v: train_setup(m) for v, m in models.items()}
    batches = data(repeats + 1)
    results: dict[str, dict[str, list[float]]] = {
        v: {"forward": [], "train": [], "gen": []} for v in variants
    }
    gen_kwargs = dict(
        max_new_tokens=new_tokens,
        do_sample=False,
        stop_at_eos=False,
        use_past_kv_cache=True,
        verbose=False,
    )
    for rep, tokens in enumerate(batches):
        for v, model in models.items():  # alternate models within each rep
            with torch.no_grad():
                fwd = timed(model, tokens)
            step = timed(train_step, model, optimizers[v], tokens)
            gen = timed(model.generate, tokens[:, :prompt], **gen_kwargs)
            if rep:  # rep 0 is the warm-up
                results[v]["forward"].append(fwd)
                results[v]["train"].append(step)
                results[v]["gen"].append(BATCH * new_tokens / gen)
    return summarize(results)


def summarize(
    results: dict[str, dict[str, list[float]]], keep_all: bool = False
) -> dict[str, dict[str, Any]]:
    """Per variant and measure: the median, the best (fastest time, highest tokens/s for "gen")
    and, with ``keep_all``, every timed repeat."""
    summary: dict[str, dict[str, Any]] = {}
    for v, r in results.items():
        summary[v] = {k: statistics.median(xs) for k, xs in r.items()}
        summary[v] |= {f"{k}_best": (max if k == "gen" else min)(xs) for k, xs in r.items()}
        if keep_all:
            summary[v] |= {f"{k}_all": xs for k, xs in r.items()}
    return summary


def saved_activation_mib(model: HookedTransformer, tokens: torch.Tensor) -> float:
    """Bytes of distinct storages saved for backward by one loss forward."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = model(tokens, return_type="loss")
    loss.backward()
    model.zero_grad(set_to_none=True)
    return sum(n for ptr, n in storages.items() if ptr not in params) / 2**20


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(variant: str, n_kv: int | None) -> None:
    model = build(variant, n_kv)
    optimizer = train_setup(model)
    batches = data(2)
    before = _rss_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    for tokens in batches:
        train_step(model, optimizer, tokens)
    peak = _rss_kib("VmHWM")
    saved = saved_activation_mib(model, batches[0])
    print(
        json.dumps(
            {"peak_mib": peak / 1024, "step_mib": (peak - before) / 1024, "saved_mib": saved}
        )
    )


def memory_all(variants: list[str], n_kv: int | None, quick: bool) -> dict:
    out = {}
    for v in variants:
        cmd = [sys.executable, __file__, "--memory-child", v, "--n-kv-heads", str(n_kv or N_HEADS)]
        cmd += ["--quick"] if quick else []
        out[v] = json.loads(
            subprocess.run(cmd, check=True, capture_output=True, text=True)
            .stdout.strip()
            .splitlines()[-1]
        )
    return out


def ratios(times: dict, memory: dict) -> dict:
    """Every variant / vanilla: time medians and bests (gen: tokens/s), memory figures."""
    out = {}
    for v in times:
        if v == "vanilla":
            continue
        t, m, base_t, base_m = times[v], memory[v], times["vanilla"], memory["vanilla"]
        out[v] = {k: t[k] / base_t[k] for k in t} | {k: m[k] / base_m[k] for k in m}
    return out


def print_tables(times: dict, memory: dict, ratio: dict, header: str) -> None:
    print(header)
    print(
        f"{'model':<24}{'forward s':>10}{'train s':>10}{'gen tok/s':>11}{'peak MiB':>10}{'step MiB':>10}{'saved MiB':>10}"
    )
    for v in times:
        t, m = times[v], memory[v]
        print(
            f"{v:<24}{t['forward']:>10.3f}{t['train']:>10.3f}{t['gen']:>11.1f}{m['peak_mib']:>10.0f}"
            f"{m['step_mib']:>10.0f}{m['saved_mib']:>10.0f}"
        )
    print(
        f"\n{'ratio vs vanilla':<24}{'forward':>10}{'train':>10}{'gen tok/s':>11}{'peak':>10}{'step':>10}{'saved':>10}"
    )
    for v, r in ratio.items():
        for stat, suffix in (("median", ""), ("best", "_best")):
            print(
                f"{v + ' (' + stat + ')':<24}{r['forward' + suffix]:>10.3f}{r['train' + suffix]:>10.3f}"
                f"{r['gen' + suffix]:>11.3f}"
                + (
                    f"{r['peak_mib']:>10.3f}{r['step_mib']:>10.3f}{r['saved_mib']:>10.3f}"
                    if not suffix
                    else ""
                )
            )
    print(
        "targets (lime-kv): forward <= 1.05, train <= 1.10, gen tok/s >= 0.95, peak memory <= 1.10"
    )


def write_json(path: Path, settings: dict, times: dict, memory: dict, ratio: dict) -> None:
    """The printed figures as JSON, written atomically (temp file + rename)."""
    payload = {
        "settings": settings,
        "targets_lime_kv": TARGETS,
        "times": times,
        "memory": memory,
        "ratio_vs_vanilla": ratio,
    }
    atomic_write_text(path, json.dumps(payload, indent=2))
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-kv-heads", type=int, default=None, help="default: full MHA; 2 = GQA")
    parser.add_argument("--prompt", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--clock", choices=list(CLOCKS), default="cpu")
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON file (see the module docstring)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny models: check the script, not a measurement"
    )
    parser.add_argument("--memory-child", choices=list(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        globals().update(QUICK)
        args.repeats, args.prompt = min(args.repeats, 2), min(args.prompt, SEQ // 2)
        args.new_tokens = min(args.new_tokens, 4)
    n_kv = args.n_kv_heads or N_HEADS
    torch.set_num_threads(1)  # one compute thread, so the thread's CPU time is the model's
    global clock
    clock = CLOCKS[args.clock]
    if args.memory_child:
        return memory_child(args.memory_child, n_kv)
    variants = list(VARIANTS)
    times = time_all(variants, n_kv, args.repeats, args.prompt, args.new_tokens)
    memory = memory_all(variants, n_kv, args.quick)
    ratio = ratios(times, memory)
    settings = dict(
        n_layers=N_LAYERS,
        d_model=D_MODEL,
        n_heads=N_HEADS,
        n_kv_heads=n_kv,
        seq=SEQ,
        batch=BATCH,
        d_vocab=D_VOCAB,
        repeats=args.repeats,
        prompt=args.prompt,
        new_tokens=args.new_tokens,
        clock=args.clock,
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        cpu_count=os.cpu_count(),
        load_average_at_end=os.getloadavg(),
        quick=args.quick,
    )
    print_tables(
        times,
        memory,
        ratio,
        f"LLaMA-style L={N_LAYERS} d_model={D_MODEL} heads={N_HEADS} kv_heads={n_kv} seq={SEQ} "
        f"batch={BATCH} fp32 CPU, {torch.get_num_threads()} thread(s), {args.clock} clock, "
        f"median of {args.repeats}",
    )
    out = args.out or (
        None if args.quick else RESULTS / ("lime.json" if n_kv == N_HEADS else "lime_gqa.json")
    )
    if out is not None:
        write_json(out, settings, times, memory, ratio)


if __name__ == "__main__":
    main()

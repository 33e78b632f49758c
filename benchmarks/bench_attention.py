"""Fused (SDPA) vs explicit attention, vanilla and LIMe-kv, side by side with HF LlamaForCausalLM.

Five models of one LLaMA-style shape (RMSNorm, rotary, gated SiLU MLP; 8 layers, d_model 256,
8 heads, d_mlp 1024, vocab 4096, float32): vanilla HookedTransformer (explicit, stock
TransformerLens), vanilla with ``use_fused_attention(model, "sdpa")``, HookedLIMeTransformer kv
with ``attn_impl="explicit"`` and ``"sdpa"``, and transformers' ``LlamaForCausalLM`` built from a
``LlamaConfig`` of the same shape (``attn_implementation="sdpa"``, untied embeddings, no hub).
Measured at seq 256 (batch 8) and seq 1,024 (batch 2), the same 2,048 tokens per batch:
- forward: ``model(tokens)`` under ``torch.no_grad``;
- train step: loss forward, backward, AdamW step, zero_grad;
- cached generation: greedy, ``--new-tokens`` after a seq/2-token prompt, KV cache on, tokens/s;
- memory of a training step: peak RSS in a fresh subprocess and the bytes autograd saves
  (``bench_lime``'s helpers; on CUDA, ``torch.cuda.max_memory_allocated``).
Timing, clocks and the rep-by-rep alternation are ``bench_lime``'s (CPU time of the single
compute thread by default; wall clock with synchronisation on CUDA). Ratios are against HF Llama.
Targets (LIMe-kv sdpa / HF Llama, CPU): forward <= 1.10, train step <= 1.10, generation tokens/s
>= 0.8; at seq 1,024 its training memory below LIMe-kv explicit's.

    OMP_NUM_THREADS=1 python benchmarks/bench_attention.py [--repeats 5] [--device cuda] [--out FILE]

Writes ``--out`` (default ``results/benchmarks/attention.json``) after each sequence length, with
the load average and wall time. ``--quick`` shrinks everything to check the script in seconds and
writes JSON only to an explicit ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_lime

from lime_lens import HookedLIMeTransformer, LIMeConfig
from lime_lens.serialization import atomic_write_text
from lime_lens.tl.vanilla_attention import use_fused_attention
from lime_lens.train.architectures import ModelShape, llama_config_kwargs

warnings.filterwarnings("ignore")
SHAPE = dict(n_layers=8, d_model=256, n_heads=8, d_mlp=1024, d_vocab=4096)
SEQS = {256: 8, 1024: 2}
"""Sequence length -> batch size (2,048 tokens per batch at both)."""
QUICK_SHAPE = dict(n_layers=2, d_model=64, n_heads=4, d_mlp=128, d_vocab=512)
QUICK_SEQS = {32: 2, 64: 1}
VARIANTS = ("vanilla-explicit", "vanilla-sdpa", "lime-kv-explicit", "lime-kv-sdpa", "hf-llama")
TARGETS = {"forward": 1.10, "train": 1.10, "gen": 0.8}
"""lime-kv-sdpa / hf-llama: at most (forward, train) or at least (gen tokens/s) these ratios."""
RESULTS = Path(__file__).resolve().parents[1] / "results" / "benchmarks"


class HFLlama(torch.nn.Module):
    """LlamaForCausalLM behind the HookedTransformer calls the bench_lime helpers make."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.hf = LlamaForCausalLM(cfg)

    def forward(self, tokens: torch.Tensor, return_type: str = "logits") -> torch.Tensor:
        if return_type == "loss":  # next-token cross-entropy, as HookedTransformer's loss
            return self.hf(input_ids=tokens, labels=tokens).loss
        return self.hf(input_ids=tokens).logits

    def generate(self, tokens: torch.Tensor, max_new_tokens: int, **_: object) -> torch.Tensor:
        return self.hf.generate(
            tokens,
            attention_mask=torch.ones_like(tokens),
            max_new_tokens=max_new_tokens,
            min_new_tokens=max_new_tokens,  # no early stop at a random eos
            do_sample=False,
            use_cache=True,
            pad_token_id=0,
        )


def build(variant: str, n_ctx: int, device: str) -> torch.nn.Module:
    s = SHAPE
    if variant == "hf-llama":
        sdpa: dict[str, Any] = {"attn_implementation": "sdpa"}  # through **kwargs: no stub
        cfg = LlamaConfig(
            hidden_size=s["d_model"],
            intermediate_size=s["d_mlp"],
            num_hidden_layers=s["n_layers"],
            num_attention_heads=s["n_heads"],
            num_key_value_heads=s["n_heads"],
            vocab_size=s["d_vocab"],
            max_position_embeddings=n_ctx,
            rms_norm_eps=1e-5,
            tie_word_embeddings=False,
            **sdpa,
        )
        torch.manual_seed(0)
        return HFLlama(cfg).to(device)
    shape = ModelShape(
        n_layers=s["n_layers"],
        d_model=s["d_model"],
        n_heads=s["n_heads"],
        n_key_value_heads=None,
        d_head=s["d_model"] // s["n_heads"],
        d_mlp=s["d_mlp"],
        n_ctx=n_ctx,
    )
    fields = {**llama_config_kwargs(shape, s["d_vocab"], seed=0), "device": device}
    kind, impl = variant.rsplit("-", 1)
    if kind == "vanilla":
        model = HookedTransformer(HookedTransformerConfig(**fields))
        return model if impl == "explicit" else use_fused_attention(model, impl)
    return HookedLIMeTransformer(LIMeConfig(**fields, lime_mode="kv", attn_impl=impl))


def token_batches(n: int, seq: int, batch: int, device: str) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return [
        torch.randint(0, SHAPE["d_vocab"], (batch, seq), generator=gen).to(device) for _ in range(n)
    ]


def time_seq(seq: int, batch: int, repeats: int, new_tokens: int, device: str) -> dict:
    """Median and best of ``repeats`` reps (after a warm-up) per variant, alternating rep by rep."""
    models = {v: build(v, seq + new_tokens, device) for v in VARIANTS}
    optimizers = {v: bench_lime.train_setup(m) for v, m in models.items()}
    runs: dict[str, dict[str, list[float]]] = {
        v: {"forward": [], "train": [], "gen": []} for v in VARIANTS
    }
    gen_kwargs = dict(do_sample=False, stop_at_eos=False, use_past_kv_cache=True, verbose=False)
    for rep, tokens in enumerate(token_batches(repeats + 1, seq, batch, device)):
        for v, model in models.items():
            with torch.no_grad():
                fwd = bench_lime.timed(model, tokens)
            step = bench_lime.timed(bench_lime.train_step, model, optimizers[v], tokens)
            prompt = tokens[:, : seq // 2]
            gen = bench_lime.timed(model.generate, prompt, max_new_tokens=new_tokens, **gen_kwargs)
            if rep:  # rep 0 is the warm-up
                runs[v]["forward"].append(fwd)
                runs[v]["train"].append(step)
                runs[v]["gen"].append(batch * new_tokens / gen)
    return bench_lime.summarize(runs, keep_all=True)


def memory_child(variant: str, seq: int, batch: int, device: str) -> dict:
    """Training-step memory of one model: RSS peak (CPU, fresh process) or CUDA peak allocated."""
    model = build(variant, seq, device)
    optimizer = bench_lime.train_setup(model)
    batches = token_batches(2, seq, batch, device)
    if device == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated() / 2**20
        torch.cuda.reset_peak_memory_stats()
        for tokens in batches:
            bench_lime.train_step(model, optimizer, tokens)
        peak = torch.cuda.max_memory_allocated() / 2**20
        return {"peak_mib": peak, "step_mib": peak - before}
    before = bench_lime._rss_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    for tokens in batches:
        bench_lime.train_step(model, optimizer, tokens)
    peak = bench_lime._rss_kib("VmHWM")
    saved = bench_lime.saved_activation_mib(model, batches[0])
    return {"peak_mib": peak / 1024, "step_mib": (peak - before) / 1024, "saved_mib": saved}


def memory_seq(seq: int, batch: int, device: str, quick: bool) -> dict:
    out = {}
    for v in VARIANTS:
        if device == "cuda":  # one process: the peak counter is reset per model
            out[v] = memory_child(v, seq, batch, device)
            torch.cuda.empty_cache()
            continue
        cmd = [sys.executable, __file__, "--memory-child", v, str(seq), str(batch)]
        cmd += ["--quick"] if quick else []
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        out[v] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def ratios(times: dict, memory: dict) -> dict:
    """Every TransformerLens variant / hf-llama (gen: tokens/s ratio; memory: MiB ratio)."""
    base_t, base_m = times["hf-llama"], memory["hf-llama"]
    return {
        v: {
            k: times[v][k] / base_t[k]
            for k in ("forward", "train", "gen", "forward_best", "train_best", "gen_best")
        }
        | {k: memory[v][k] / base_m[k] for k in memory[v]}
        for v in VARIANTS
        if v != "hf-llama"
    }


def target_checks(seq_results: dict) -> dict:
    """Each target: the measured lime-kv-sdpa figure and whether it meets the target."""
    checks = {}
    for seq, res in seq_results.items():
        r = res["ratio_vs_hf"]["lime-kv-sdpa"]
        for k, bound in TARGETS.items():
            met = r[k] >= bound if k == "gen" else r[k] <= bound
            checks[f"seq{seq}_{k}"] = {"ratio": r[k], "target": bound, "met": met}
        mem = res["memory"]
        checks[f"seq{seq}_peak_below_explicit"] = {
            "sdpa_mib": mem["lime-kv-sdpa"]["peak_mib"],
            "explicit_mib": mem["lime-kv-explicit"]["peak_mib"],
            "met": mem["lime-kv-sdpa"]["peak_mib"] < mem["lime-kv-explicit"]["peak_mib"],
        }
    return checks


def print_seq(seq: int, batch: int, res: dict) -> None:
    t, m, r = res["times"], res["memory"], res["ratio_vs_hf"]
    print(f"\nseq {seq}, batch {batch}: medians (best in the JSON)")
    print(
        f"{'model':<18}{'forward s':>10}{'train s':>10}{'gen tok/s':>11}{'peak MiB':>10}{'step MiB':>10}"
    )
    for v in VARIANTS:
        print(
            f"{v:<18}{t[v]['forward']:>10.3f}{t[v]['train']:>10.3f}{t[v]['gen']:>11.1f}"
            f"{m[v]['peak_mib']:>10.0f}{m[v]['step_mib']:>10.0f}"
        )
    print(
        f"{'ratio vs hf-llama':<18}{'forward':>10}{'train':>10}{'gen tok/s':>11}{'peak':>10}{'step':>10}"
    )
    for v, x in r.items():
        print(
            f"{v:<18}{x['forward']:>10.3f}{x['train']:>10.3f}{x['gen']:>11.3f}"
            f"{x['peak_mib']:>10.3f}{x['step_mib']:>10.3f}"
        )


def write_json(path: Path, settings: dict, seq_results: dict) -> None:
    payload = {
        "settings": settings,
        "targets_lime_kv_sdpa_vs_hf": TARGETS,
        "seqs": {str(s): r for s, r in seq_results.items()},
        "targets": target_checks(seq_results),
    }
    atomic_write_text(path, json.dumps(payload, indent=2))
    print(f"wrote {path}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--clock",
        choices=list(bench_lime.CLOCKS),
        default=None,
        help="default: cpu (thread CPU time) on CPU, wall on CUDA",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON file (see the docstring)")
    parser.add_argument("--quick", action="store_true", help="tiny models: a smoke run")
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    return parser.parse_args()


def set_clock(args: argparse.Namespace) -> str:
    """Point bench_lime's timer at the chosen clock (CUDA: wall time after a synchronize)."""
    clock = args.clock or ("wall" if args.device == "cuda" else "cpu")
    if args.device == "cuda":

        def synced() -> float:
            torch.cuda.synchronize()
            return time.perf_counter()

        bench_lime.clock = synced
    else:
        bench_lime.clock = bench_lime.CLOCKS[clock]
    return clock


def main() -> None:
    args = parse_args()
    global SEQS
    if args.quick:
        SHAPE.update(QUICK_SHAPE)
        SEQS = QUICK_SEQS
        args.repeats, args.new_tokens = min(args.repeats, 2), min(args.new_tokens, 4)
    torch.set_num_threads(1)  # one compute thread, so the thread's CPU time is the model's
    if args.memory_child:
        variant, seq, batch = args.memory_child
        print(json.dumps(memory_child(variant, int(seq), int(batch), args.device)))
        return
    clock = set_clock(args)
    out = args.out or (None if args.quick else RESULTS / "attention.json")
    started = time.time()
    settings = dict(
        **SHAPE,
        seqs_batch=SEQS,
        repeats=args.repeats,
        new_tokens=args.new_tokens,
        prompt="seq // 2",
        dtype="float32",
        device=args.device,
        clock=clock,
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        cpu_count=os.cpu_count(),
        load_average_at_start=os.getloadavg(),
        quick=args.quick,
        gpu=torch.cuda.get_device_name() if args.device == "cuda" else None,
    )
    seq_results: dict[int, dict] = {}
    for seq, batch in SEQS.items():
        times = time_seq(seq, batch, args.repeats, args.new_tokens, args.device)
        memory = memory_seq(seq, batch, args.device, args.quick)
        seq_results[seq] = {
            "batch": batch,
            "times": times,
            "memory": memory,
            "ratio_vs_hf": ratios(times, memory),
        }
        print_seq(seq, batch, seq_results[seq])
        settings |= {"load_average_at_end": os.getloadavg(), "wall_s": time.time() - started}
        if out is not None:  # after every sequence length, so a partial run still renders
            write_json(out, settings, seq_results)
    for name, check in target_checks(seq_results).items():
        print(f"target {name}: {check}")


if __name__ == "__main__":
    main()

"""Hugging Face LIMe vs Hugging Face Llama of the same shape, and their TransformerBridges.

Issue 21 item 5, side by side in one process:
- ``hf_lime`` (``lime_lens.LIMeForCausalLM``) vs ``hf_llama`` (``LlamaForCausalLM``), both sdpa;
- ``bridge_lime`` vs ``bridge_llama``: TransformerBridge around separate copies of the same
  weights (TransformerLens switches them to eager attention, so its hooks see the pattern).
Every model is built from one seed; LIMe's routes sit at their App. A init (identity on the
layer's own heads plus noise), so the same tokens reach comparable work.

Measured, as the median of ``--repeats`` reps after one warm-up, variants alternating rep by rep so
machine-load drift hits them alike:
- forward: ``model(tokens)`` under ``torch.no_grad``;
- train step: loss forward, backward, AdamW step, ``zero_grad``;
- generation: greedy, KV-cached, ``--new-tokens`` after a ``--prompt``-token prompt, tokens/s;
  ``tokens_match_hf`` says whether a bridge generated its HF model's tokens, and
  ``first_mismatch`` the first generated token where it did not. Both are taken before any
  train step: the train-step timing updates each copy's weights with its own rounding, so
  afterwards the twins are different models;
- memory: the bytes autograd saves for backward in one train step (deterministic activation
  memory, any device), plus the allocator's peak over a train step on CUDA.
Targets (issue 21; a benchmark, not a test): LIMe / Llama forward <= 1.05, train step <= 1.10,
generation tokens/s >= 0.95.

    python benchmarks/bench_hf_lime.py [--device cuda] [--repeats 7] [--out FILE]
    python benchmarks/bench_hf_lime.py --smoke --out /tmp/hf_lime.json   # tiny, seconds

Writes the figures and the ratios to ``--out`` (default ``results/benchmarks/hf_lime.json``;
``--smoke`` writes only to an explicit ``--out``).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from lime_lens.bridge import boot_from_model
from lime_lens.hf.configuration import LIMeHFConfig
from lime_lens.hf.modeling import LIMeForCausalLM
from lime_lens.hf.tiny import embedded_tokenizer

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "results" / "benchmarks" / "hf_lime.json"
SHAPES = {
    "full": dict(layers=8, d_model=512, heads=8, kv_heads=4, d_mlp=1376, batch=8, seq=256),
    "smoke": dict(layers=2, d_model=64, heads=4, kv_heads=2, d_mlp=128, batch=2, seq=16),
}
TARGETS = {"forward": 1.05, "train_step": 1.10, "generation_tokens_per_s": 0.95}
VOCAB = 4096  # the embedded BPE tokenizer's, so the bridges can tokenize


def llama_config(shape: dict[str, int]) -> dict[str, Any]:
    """The Llama fields both models share (``LIMeHFConfig`` adds only the LIMe ones)."""
    return dict(
        vocab_size=VOCAB,
        hidden_size=shape["d_model"],
        intermediate_size=shape["d_mlp"],
        num_hidden_layers=shape["layers"],
        num_attention_heads=shape["heads"],
        num_key_value_heads=shape["kv_heads"],
        head_dim=shape["d_model"] // shape["heads"],
        max_position_embeddings=4 * shape["seq"],
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )


def build_models(shape: dict[str, int], device: str, dtype: torch.dtype) -> dict[str, Any]:
    """The four variants: HF LIMe / Llama (sdpa) and a bridge around a copy of each."""
    fields = llama_config(shape)
    torch.manual_seed(0)
    fields["attn_implementation"] = "sdpa"  # a config kwarg transformers takes through **kwargs
    lime = LIMeForCausalLM(LIMeHFConfig(**fields))
    llama = LlamaForCausalLM(LlamaConfig(**fields))
    shared = {k: v for k, v in lime.state_dict().items() if ".lime." not in k}
    llama.load_state_dict(shared)  # identical Llama weights; LIMe adds only its routes
    models: dict[str, Any] = {"hf_lime": lime, "hf_llama": llama}
    tokenizer = embedded_tokenizer()
    for name in ("lime", "llama"):
        twin = copy.deepcopy(models[f"hf_{name}"])
        twin.config.architectures = ["LIMeForCausalLM" if name == "lime" else "LlamaForCausalLM"]
        models[f"bridge_{name}"] = (
            boot_from_model(twin, tokenizer, device=device)
            if name == "lime"
            else _boot_llama(twin, tokenizer, device)
        )
    return {k: m.to(device=device, dtype=dtype) for k, m in models.items()}


def _boot_llama(model: Any, tokenizer: Any, device: str) -> Any:
    from transformer_lens.model_bridge import TransformerBridge

    return TransformerBridge.boot_transformers(
        "LlamaForCausalLM", hf_model=model, tokenizer=tokenizer, device=device
    )


def forward_fn(name: str, model: Any, tokens: torch.Tensor) -> Callable[[], Any]:
    def run() -> Any:
        with torch.no_grad():
            return model(tokens)

    return run


def loss(name: str, model: Any, tokens: torch.Tensor) -> torch.Tensor:
    if name.startswith("bridge"):
        return model(tokens, return_type="loss")
    return model(input_ids=tokens, labels=tokens).loss


def train_fn(name: str, model: Any, tokens: torch.Tensor) -> Callable[[], Any]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def step() -> None:
        loss(name, model, tokens).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def generate(name: str, model: Any, prompt: torch.Tensor, new: int) -> torch.Tensor:
    if name.startswith("bridge"):
        return model.generate(
            prompt,
            max_new_tokens=new,
            do_sample=False,
            stop_at_eos=False,
            use_past_kv_cache=True,
            verbose=False,
        )
    return model.generate(
        prompt, max_new_tokens=new, min_new_tokens=new, do_sample=False, use_cache=True
    )


def generate_fn(name: str, model: Any, prompt: torch.Tensor, new: int) -> Callable[[], Any]:
    return lambda: generate(name, model, prompt, new)


def saved_mib(name: str, model: Any, tokens: torch.Tensor) -> float:
    """MiB of the distinct storages autograd saves for backward in one train-step forward."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = loss(name, model, tokens)
    out.backward()
    model.zero_grad(set_to_none=True)
    return sum(storages.values()) / 2**20


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: str) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def cuda_peak_mib(name: str, model: Any, tokens: torch.Tensor, device: str) -> float | None:
    """The CUDA allocator's peak over one train step, above what was allocated before it."""
    if not device.startswith("cuda"):
        return None
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    loss(name, model, tokens).backward()
    torch.cuda.synchronize()
    model.zero_grad(set_to_none=True)
    return (torch.cuda.max_memory_allocated() - before) / 2**20


def measure(
    models: dict[str, Any], tokens: torch.Tensor, args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """Median seconds per variant and task (variants alternate within each rep), tokens/s and
    memory."""
    prompt = tokens[:, : args.prompt]
    agreement = generation_agreement(models, prompt, args.new_tokens)  # before any train step
    tasks: dict[str, dict[str, Callable[[], Any]]] = {
        name: {
            "forward": forward_fn(name, m, tokens),
            "train_step": train_fn(name, m, tokens),
            "generation": generate_fn(name, m, prompt, args.new_tokens),
        }
        for name, m in models.items()
    }
    times: dict[str, dict[str, list[float]]] = {n: {t: [] for t in tasks[n]} for n in tasks}
    for rep in range(args.repeats + 1):
        for task in ("forward", "train_step", "generation"):
            for name in models:
                seconds = timed(tasks[name][task], args.device)
                if rep:  # rep 0 is the warm-up
                    times[name][task].append(seconds)
    out: dict[str, dict[str, Any]] = {}
    for name, model in models.items():
        median = {task: statistics.median(t) for task, t in times[name].items()}
        generated = prompt.shape[0] * args.new_tokens
        row: dict[str, Any] = {
            "forward_ms": 1000 * median["forward"],
            "train_step_ms": 1000 * median["train_step"],
            "generation_tokens_per_s": generated / median["generation"],
            "saved_activations_mib": saved_mib(name, model, tokens),
            "cuda_peak_train_mib": cuda_peak_mib(name, model, tokens, args.device),
            "seconds_per_rep": times[name],
        }
        out[name] = row | agreement.get(name, {})
    return out


def generation_agreement(
    models: dict[str, Any], prompt: torch.Tensor, new: int
) -> dict[str, dict[str, Any]]:
    """Per bridge: ``tokens_match_hf`` and ``first_mismatch``, the index among the generated
    tokens of the first that differs from its Hugging Face twin's in some row (None if none)."""
    out = {}
    for name in ("bridge_lime", "bridge_llama"):
        hf_name = name.replace("bridge", "hf")
        mine = generate(name, models[name], prompt, new)[:, prompt.shape[1] :].cpu()
        twin = generate(hf_name, models[hf_name], prompt, new)[:, prompt.shape[1] :].cpu()
        differs = (mine != twin).any(dim=0).nonzero()
        out[name] = {
            "tokens_match_hf": not len(differs),
            "first_mismatch": int(differs[0]) if len(differs) else None,
        }
    return out


def ratios(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """LIMe / Llama per pair: time ratios (forward, train step), tokens/s and memory ratios."""
    out: dict[str, dict[str, float | None]] = {}
    for pair in ("hf", "bridge"):
        lime, llama = rows[f"{pair}_lime"], rows[f"{pair}_llama"]
        peak = lime["cuda_peak_train_mib"], llama["cuda_peak_train_mib"]
        out[pair] = {
            "forward": lime["forward_ms"] / llama["forward_ms"],
            "train_step": lime["train_step_ms"] / llama["train_step_ms"],
            "generation_tokens_per_s": lime["generation_tokens_per_s"]
            / llama["generation_tokens_per_s"],
            "saved_activations": lime["saved_activations_mib"] / llama["saved_activations_mib"],
            "cuda_peak_train": peak[0] / peak[1] if peak[1] else None,
        }
    return out


def ratio_ranges(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """LIMe / Llama per pair and task, rep by rep (the variants alternate within a rep, so each
    rep pairs them): [min, max] over the reps, as time ratios, and as the tokens/s ratio for
    generation."""
    out: dict[str, dict[str, list[float]]] = {}
    for pair in ("hf", "bridge"):
        lime = rows[f"{pair}_lime"]["seconds_per_rep"]
        llama = rows[f"{pair}_llama"]["seconds_per_rep"]
        out[pair] = {}
        for key, task in (
            ("forward", "forward"),
            ("train_step", "train_step"),
            ("generation_tokens_per_s", "generation"),
        ):
            per_rep = [a / b for a, b in zip(lime[task], llama[task], strict=True)]
            if task == "generation":  # tokens/s: the inverse of the time ratio
                per_rep = [1 / r for r in per_rep]
            out[pair][key] = [min(per_rep), max(per_rep)]
    return out


def print_tables(rows: dict[str, dict[str, Any]], ratio: dict[str, dict[str, Any]]) -> None:
    print(f"{'variant':>12} {'forward ms':>11} {'train ms':>9} {'gen tok/s':>10} {'saved MiB':>10}")
    for name, row in rows.items():
        print(
            f"{name:>12} {row['forward_ms']:11.2f} {row['train_step_ms']:9.2f} "
            f"{row['generation_tokens_per_s']:10.1f} {row['saved_activations_mib']:10.2f}"
        )
    for pair, values in ratio.items():
        checks = ", ".join(
            f"{task} {values[task]:.3f} (target {'<=' if task != 'generation_tokens_per_s' else '>='}"
            f" {target})"
            for task, target in TARGETS.items()
        )
        print(f"LIMe / Llama, {pair}: {checks}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--prompt", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--smoke", action="store_true", help="tiny shapes, one rep, seconds")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeats, args.prompt, args.new_tokens = 1, 4, 3
    shape = SHAPES["smoke" if args.smoke else "full"]
    if args.prompt > shape["seq"]:
        raise ValueError(f"--prompt ({args.prompt}) must not exceed the sequence ({shape['seq']})")
    models = build_models(shape, args.device, getattr(torch, args.dtype))
    gen = torch.Generator().manual_seed(1)
    tokens = torch.randint(1, VOCAB, (shape["batch"], shape["seq"]), generator=gen).to(args.device)
    rows = measure(models, tokens, args)
    ratio = ratios(rows)
    print_tables(rows, ratio)
    record = {
        "setting": shape | {"vocab": VOCAB, "dtype": args.dtype, "device": args.device},
        "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "threads": torch.get_num_threads(),
        "loadavg": os.getloadavg(),
        "repeats": args.repeats,
        "prompt": args.prompt,
        "new_tokens": args.new_tokens,
        "targets": TARGETS,
        "rows": rows,
        "ratios": ratio,
        "ratio_ranges_per_rep": ratio_ranges(rows),
    }
    out = args.out if args.out is not None or args.smoke else DEFAULT_OUT
    if out is not None:
        write_json(out, record)
    return record


def write_json(path: Path, record: dict[str, Any]) -> None:
    """Atomically: a temporary sibling renamed into place, so a killed run leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


if __name__ == "__main__":
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    main()

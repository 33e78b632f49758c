"""Render the benchmark tables from the benchmarks' JSON (results/benchmarks/).

    python -m benchmarks.render_tables            # print the tables as Markdown

``docs/benchmarks.md`` quotes these tables verbatim (a test re-renders them from the committed
JSON and fails on drift), and ``results/benchmarks/README.md`` is their rendering
(``python -m experiments.rerender --check``), so every number there traces to a run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[1] / "results" / "benchmarks"
LIME_ROWS = {"lime-kv": "LIMe-kv", "lime-residual-dynamic": "residual-dynamic"}
"""bench_lime variant -> README row label."""
ATTENTION_ROWS = {
    "vanilla-explicit": "vanilla, explicit (stock TransformerLens)",
    "vanilla-sdpa": "vanilla, fused (sdpa)",
    "lime-kv-explicit": "LIMe-kv, explicit",
    "lime-kv-sdpa": "LIMe-kv, fused (sdpa)",
}
"""bench_attention variant -> README row label."""


def _load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / name).read_text())


def hierarchical_topk_table(payload: dict[str, Any]) -> str:
    """hierarchical_topk / SAELens TopK step time and peak memory per K (fused and reference)."""
    rows = {(r["K"], r["variant"]): r for r in payload["rows"]}
    lines = [
        "| K | step time (fused) | peak memory (fused) | step time (naive reference) "
        "| peak memory (naive reference) |",
        "|---|---|---|---|---|",
    ]
    for K in payload["settings"]["ks"]:
        fused, ref = rows[(K, "fused")], rows[(K, "reference")]
        lines.append(
            f"| {K} | {fused['time_ratio']:.2f} | {fused['peak_ratio']:.2f} "
            f"| {ref['time_ratio']:.2f} | {ref['peak_ratio']:.2f} |"
        )
    return "\n".join(lines)


def lime_table(payloads: list[dict[str, Any]]) -> str:
    """LIMe / vanilla medians: forward, train step, KV-cached generation tokens/s, peak memory."""
    lines = [
        "| | forward | train step | KV-cached gen tok/s | peak train RSS |",
        "|---|---|---|---|---|",
    ]
    for variant, label in LIME_ROWS.items():
        for payload in payloads:
            r = payload["ratio_vs_vanilla"][variant]
            n_kv = payload["settings"]["n_kv_heads"]
            lines.append(
                f"| {label}, {n_kv} KV heads | {r['forward']:.3f} | {r['train']:.3f} "
                f"| {r['gen']:.3f} | {r['peak_mib']:.3f} |"
            )
    return "\n".join(lines)


def attention_table(payload: dict[str, Any]) -> str:
    """Each TransformerLens variant / HF LlamaForCausalLM, per sequence length: medians."""
    lines = [
        "| seq | | forward | train step | KV-cached gen tok/s | peak train memory |",
        "|---|---|---|---|---|---|",
    ]
    for seq, result in payload["seqs"].items():
        for variant, label in ATTENTION_ROWS.items():
            r = result["ratio_vs_hf"][variant]
            lines.append(
                f"| {seq} | {label} | {r['forward']:.3f} | {r['train']:.3f} "
                f"| {r['gen']:.3f} | {r['peak_mib']:.3f} |"
            )
    return "\n".join(lines)


def attention_targets(payload: dict[str, Any]) -> str:
    """The run's own target checks for LIMe-kv fused vs HF, one clause per sequence length."""
    checks = payload["targets"]
    verdict = {True: "met", False: "**missed**"}
    parts = []
    for seq in payload["seqs"]:
        fwd, train, gen = (checks[f"seq{seq}_{name}"] for name in ("forward", "train", "gen"))
        mem = checks[f"seq{seq}_peak_below_explicit"]
        parts.append(
            f"seq {seq}: forward {fwd['ratio']:.3f} <= {fwd['target']:.2f} {verdict[fwd['met']]}, "
            f"train step {train['ratio']:.3f} <= {train['target']:.2f} {verdict[train['met']]}, "
            f"generation {gen['ratio']:.3f} >= {gen['target']:.2f} {verdict[gen['met']]}, "
            f"peak train memory {mem['sdpa_mib']:,.0f} MiB fused vs {mem['explicit_mib']:,.0f} "
            f"MiB explicit {verdict[mem['met']]}"
        )
    return "Targets (LIMe-kv fused vs HF, checked by the run): " + "; ".join(parts) + "."


def hf_lime_table(payload: dict[str, Any]) -> str:
    """LIMe / Llama of the same shape, as Hugging Face models and through TransformerBridge, with
    the run's targets (issue 21: forward <= 1.05, train step <= 1.10, generation >= 0.95)."""
    verdict = {True: "met", False: "**missed**"}
    targets = payload["targets"]
    lines = [
        "| LIMe / Llama | forward | train step | KV-cached gen tok/s | saved activations |",
        "|---|---|---|---|---|",
    ]
    for key, label in (("hf", "Hugging Face (sdpa)"), ("bridge", "TransformerBridge")):
        r = payload["ratios"][key]
        lines.append(
            f"| {label} | {r['forward']:.3f} | {r['train_step']:.3f} "
            f"| {r['generation_tokens_per_s']:.3f} | {r['saved_activations']:.3f} |"
        )
    checks = []
    for key, label in (("hf", "Hugging Face"), ("bridge", "bridge")):
        r = payload["ratios"][key]
        met = {
            "forward": r["forward"] <= targets["forward"],
            "train step": r["train_step"] <= targets["train_step"],
            "generation": r["generation_tokens_per_s"] >= targets["generation_tokens_per_s"],
        }
        checks.append(f"{label}: " + ", ".join(f"{n} {verdict[m]}" for n, m in met.items()))
    s = payload["setting"]
    spec = (
        f"{s['layers']} layers, d_model {s['d_model']}, {s['heads']} heads / {s['kv_heads']} KV "
        f"heads, batch {s['batch']} x {s['seq']} tokens, {s['dtype']}, {s['device']}, "
        f"{payload['threads']} threads, median of {payload['repeats']}"
    )
    return (
        "\n".join(lines)
        + f"\n\nSetting: {spec}. Targets: "
        + "; ".join(checks)
        + ".\n\n"
        + _notes_under_table(payload)
    )


def _notes_under_table(payload: dict[str, Any]) -> str:
    """The rep-by-rep ratio ranges, then whether each bridge's greedy tokens are its Hugging Face
    twin's (taken before training)."""
    ranges = payload["ratio_ranges_per_rep"]
    spread = "; ".join(
        f"{label} forward {r['forward'][0]:.3f}-{r['forward'][1]:.3f}, train step "
        f"{r['train_step'][0]:.3f}-{r['train_step'][1]:.3f}, generation "
        f"{r['generation_tokens_per_s'][0]:.3f}-{r['generation_tokens_per_s'][1]:.3f}"
        for key, label in (("hf", "Hugging Face"), ("bridge", "bridge"))
        for r in [ranges[key]]
    )
    text = (
        f"LIMe / Llama rep by rep (the variants alternate within a rep), lowest to highest: "
        f"{spread}.\n\n"
    )
    parts = []
    for name, label in (("bridge_lime", "LIMe"), ("bridge_llama", "Llama")):
        row = payload["rows"][name]
        if row["tokens_match_hf"]:
            parts.append(f"the {label} bridge generates its Hugging Face twin's tokens")
        else:
            k = row["first_mismatch"] + 1
            parts.append(f"the {label} bridge's tokens first differ from its twin's at token {k}")
    text += f"Greedy generation of {payload['new_tokens']} tokens, before any train step: "
    text += "; ".join(parts) + "."
    if not payload["rows"]["bridge_llama"]["tokens_match_hf"]:
        text += (
            " A peer whose tokens differ decodes another computation, so the bridge's generation"
            " ratio is not like for like (the notes of the TransformerBridge page say why)."
        )
    return text


def small_models_table(payload: dict[str, Any]) -> str:
    """Real tokens/s of the arithmetic recipe: today's trainer, packed, N models in one step."""
    lines = [
        "| case | models | real tok/s in all | per model | GFLOP/s | share of peak | vs today |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, c in payload["cases"].items():
        lines.append(
            f"| {name} | {c['models']} | {c['real_tokens_per_s_in_all']:,.0f} "
            f"| {c['real_tokens_per_s_per_model']:,.0f} | {c['gflops']:.1f} "
            f"| {c['share_of_peak']:.3f} | {c['speedup_in_all_vs_today']:.2f} |"
        )
    t, peak = payload["target"], payload["cpu_peak"]
    verdict = "met" if t["met"] else "**missed**"
    return "\n".join(lines) + (
        f"\n\nPeak: {peak['peak_gflops']:.0f} GFLOP/s ({peak['assumption']}). Target packed N = 4 "
        f">= {t['packed_n4_vs_today_in_all']:.0f}x today in all: {t['reached']:.2f}x, {verdict}."
    )


def perf_model_sentence(payload: dict[str, Any]) -> str:
    """The roofline model's K=64 prediction against both TopK baselines (nothing measured)."""
    t, shape, hw = payload["targets_at_K64"], payload["shape"], payload["hardware_model"]
    dense, sparse = t["topk_dense"], t["topk_sparse"]
    return (
        f"Predicted by the roofline model ({hw['name']}, F = {shape['F']:,}, D = {shape['D']:,}, "
        f"B = {shape['B']:,}, K = 64, {payload['dtype']}), not measured: a HierarchicalTopK "
        f"Triton step at {dense['predicted']:.3f}x SAELens TopK (target <= {dense['bound']:.2f}) "
        f"and {sparse['predicted']:.3f}x a TopK with the same sparse decode (target <= "
        f"{sparse['bound']:.2f}). No GPU step has been measured yet."
    )


def tables() -> dict[str, str]:
    """File name(s) -> rendered table, for the README."""
    return {
        "hierarchical_topk.json": hierarchical_topk_table(_load("hierarchical_topk.json")),
        "lime.json, lime_gqa.json": lime_table([_load("lime.json"), _load("lime_gqa.json")]),
        "attention.json": attention_table(_load("attention.json"))
        + "\n\n"
        + attention_targets(_load("attention.json")),
        "perf_model.json": perf_model_sentence(_load("perf_model.json")),
        "hf_lime.json": hf_lime_table(_load("hf_lime.json")),
        "small_models.json": small_models_table(_load("small_models.json")),
    }


def page() -> str:
    """``results/benchmarks/README.md``: every table under the JSON it is rendered from."""
    blocks = [f"<!-- rendered from results/benchmarks/{s} -->\n{t}\n" for s, t in tables().items()]
    head = "# Benchmarks\n\nRendered by `python -m benchmarks.render_tables` from the JSON here.\n"
    return "\n".join([head, *blocks])


def rendered() -> list:
    """``results/benchmarks/README.md`` (an ``experiments.common.Rendered``)."""
    from experiments.common import Rendered

    return [Rendered(RESULTS / "README.md", page())]


if __name__ == "__main__":
    for source, table in tables().items():
        print(f"<!-- rendered from results/benchmarks/{source} -->\n{table}\n")

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


def tables() -> dict[str, str]:
    """File name(s) -> rendered table, for the README."""
    return {
        "hierarchical_topk.json": hierarchical_topk_table(_load("hierarchical_topk.json")),
        "lime.json, lime_gqa.json": lime_table([_load("lime.json"), _load("lime_gqa.json")]),
        "attention.json": attention_table(_load("attention.json"))
        + "\n\n"
        + attention_targets(_load("attention.json")),
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

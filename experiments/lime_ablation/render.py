"""Render the JSON written by ``experiments.lime_ablation.run`` as Markdown: table, differences, verdicts.

    python -m experiments.lime_ablation.render [experiments/lime_ablation/lime_ablation.json] [--out FILE.md]

Every number and verdict comes from the JSON's raw ``runs`` and ``meta``; the only constants are
the pre-registration (committed before the runs) and the paper's Table 7 below. ``--out`` defaults
to ``lime_ablation.md`` next to the JSON.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from experiments.common import Rendered, repo_path
from experiments.lime_reproduction.stats import RESOLVED_AT, mean_std
from lime_lens.serialization import atomic_write_text

FULL, BASELINE = "lime-kv", "vanilla"
ORDER = ("vanilla", "lime-kv-average", "lime-kv-last2", "lime-kv-first2", "lime-kv")
"""Table 7's rows, worst to best in the paper."""
PAPER_TABLE7 = {
    "vanilla": ("LLaMA", 16.4611),
    "lime-kv-average": ("uniform average", 16.4611),
    "lime-kv-last2": ("last-2", 16.2810),
    "lime-kv-first2": ("first-2 (+ previous layer)", 15.9746),
    "lime-kv": ("LIMe full router", 15.9267),
}
"""Gerasimov et al., arXiv 2502.09245 v2, App. D Table 7: validation perplexity, 150M models."""

PREREGISTRATION = """\
# LIMe routing ablations at small scale (paper v2 App. D, Table 7)

## Pre-registration (written before any ablation run)

Question: on the embedded Austen corpus with the tiny recipe (`lime_lens.train.tiny_recipe`: 4 layers,
d_model 64, 4 KV heads, 500 steps, 512,000 training tokens, the same tokens in the same order for
every model of a seed), do the constrained kv routers of Table 7 (fixed uniform average, last-2,
first-2 plus the layer's own buffer) reach a different validation loss than the full kv router and
than the vanilla baseline? Seeds 0 and 1.

Decision rule: a difference between two models is resolved only if |mean difference| > 2 standard
errors, the standard error being sqrt(s_a^2/n_a + s_b^2/n_b) from the seed-to-seed sample standard
deviations. The seed noise of this recipe is about 0.02-0.03 nats (experiments/lime_reproduction/lime_reproduction.json),
so with 2 seeds only differences of roughly 0.05 nats or more can be resolved. Table 7's largest
gap (average or LLaMA vs full, +3.36% perplexity = 0.033 nats) is below that, so the expected
outcome is "not resolved"; the order of the means is reported as description, not as a finding.
At 4 layers a j=2 restriction removes little (last-2 drops sources at layers 2-3, first-2 only at
layer 3), which also makes small differences expected.
"""


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per arch (Table 7 order): validation losses by seed, mean, std, parameters."""
    out: dict[str, dict[str, Any]] = {}
    for arch in [a for a in ORDER if any(r["arch"] == a for r in runs)]:
        mine = sorted((r for r in runs if r["arch"] == arch), key=lambda r: r["seed"])
        losses = [r["val_loss"] for r in mine]
        mean, std = mean_std(losses)
        out[arch] = {
            "losses": losses,
            "seeds": [r["seed"] for r in mine],
            "mean": mean,
            "std": std,
            "n_params": mine[0]["n_params"],
        }
    return out


def compare(summary: dict[str, dict[str, Any]], arch: str, ref: str) -> tuple[float, float, str]:
    """(mean difference arch - ref, its standard error, verdict under the pre-registered rule)."""
    a, b = summary[arch], summary[ref]
    diff = a["mean"] - b["mean"]
    se = math.sqrt(a["std"] ** 2 / len(a["losses"]) + b["std"] ** 2 / len(b["losses"]))
    if math.isnan(se):
        return diff, se, f"not testable (one seed) against {ref}"
    if abs(diff) <= RESOLVED_AT * se:
        return diff, se, f"not resolved from {ref}"
    return diff, se, f"{'lower' if diff < 0 else 'higher'} than {ref}"


def table(summary: dict[str, dict[str, Any]]) -> list[str]:
    base = summary.get(BASELINE, {}).get("n_params")
    paper_full = PAPER_TABLE7[FULL][1]
    lines = [
        "| model | Table 7 row | parameters | vs vanilla | val loss (mean +- std) | per seed "
        "| val ppl | paper ppl | paper vs full (nats) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for arch, s in summary.items():
        row, ppl = PAPER_TABLE7[arch]
        rel = f"{100 * (s['n_params'] / base - 1):+.2f}%" if base else "n/a"
        per_seed = ", ".join(
            f"{loss:.4f} (seed {seed})" for loss, seed in zip(s["losses"], s["seeds"], strict=True)
        )
        lines.append(
            f"| {arch} | {row} | {s['n_params']:,} | {rel} | {s['mean']:.4f} +- {s['std']:.4f} "
            f"| {per_seed} | {math.exp(s['mean']):.2f} | {ppl:.2f} | {math.log(ppl / paper_full):+.4f} |"
        )
    return lines


def verdicts(summary: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for arch in summary:
        for ref in (FULL, BASELINE):
            if arch == ref or ref not in summary or (arch, ref) == (BASELINE, FULL):
                continue
            diff, se, verdict = compare(summary, arch, ref)
            paper = math.log(PAPER_TABLE7[arch][1] / PAPER_TABLE7[ref][1])
            lines.append(
                f"- {arch} - {ref}: {diff:+.4f} nats (standard error {se:.4f}): {verdict} at "
                f"{RESOLVED_AT:g} standard errors (paper, 150M: {paper:+.4f} nats)."
            )
    return lines


def render(payload: dict[str, Any], source: str) -> str:
    """The Markdown report of ``payload`` (the JSON of ``experiments.lime_ablation.run``)."""
    meta, runs = payload["meta"], payload["runs"]
    summary = summarise(runs)
    done = {(r["arch"], r["seed"]) for r in runs}
    missing = [f"{a} seed {s}" for a, s in meta.get("planned", []) if (a, s) not in done]
    reused = sorted(f"{r['arch']} seed {r['seed']}" for r in runs if r.get("source"))
    trained = [r for r in runs if not r.get("source")]
    by_mean = sorted(summary, key=lambda a: summary[a]["mean"], reverse=True)
    falling = sum(
        1
        for r in runs
        if len(r["val_history"]) > 1 and r["val_history"][-1]["loss"] < r["val_history"][-2]["loss"]
    )
    out = [PREREGISTRATION]
    out += [
        "## Results",
        "",
        f"Produced by `{meta['command']}` (one run at a time, one torch thread; torch {meta['torch']}, "
        f"{meta['machine']}); raw runs: `{source}`. Trained here: {len(trained)} runs "
        f"({sum(r['wall_time_s'] for r in trained) / 60:.1f} min of training). Reused from "
        f"`experiments/lime_reproduction/lime_reproduction.json`, identical recipe and seed (checked field by field): "
        f"{', '.join(reused) or 'none'}. Planned but not run: {', '.join(missing) or 'none'}.",
        "",
        f"Recipe: shape {meta['lm_shape']}, trainer settings {meta['lm_train']}, rows of "
        f"{meta['lm_context_size']} tokens; validation loss on the whole validation split. The kv "
        "routers differ only in `LIMeConfig.lime_sources`; the vanilla baseline is the "
        "reproduction's, its d_mlp matched to the full LIMe models (so it has slightly more "
        "parameters than the restricted routers, whose unread route entries are absent).",
        "",
        *table(summary),
        "",
        "## Verdicts (pre-registered rule)",
        "",
        *verdicts(summary),
        "",
        f"Order of the mean losses, worst to best (description only): {' > '.join(by_mean)}; "
        f"Table 7's order: {' > '.join(ORDER)} (LLaMA and average tied).",
        "",
        f"Validation loss was still falling at the last evaluation in {falling} of {len(runs)} runs.",
        "",
        f"For scale: Table 7 is 150M-parameter models trained on billions of tokens; here the "
        f"models have {max(s['n_params'] for s in summary.values()) / 1e6:.2f}M parameters or "
        f"fewer and see {max(r['tokens_seen'] for r in runs):,} training tokens, with "
        f"{meta['lm_shape']['n_layers']} layers, so a j=2 restriction removes few sources.",
        "",
    ]
    return "\n".join(out)


HERE = Path(__file__).resolve().parent
RESULT = HERE / "lime_ablation.json"


def rendered() -> list[Rendered]:
    """``lime_ablation.md``, rendered from the committed ``lime_ablation.json``."""
    text = render(json.loads(RESULT.read_text()), repo_path(RESULT))
    return [Rendered(RESULT.with_suffix(".md"), text)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("json", nargs="?", type=Path, default=RESULT)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or args.json.with_name("lime_ablation.md")
    text = render(json.loads(args.json.read_text()), repo_path(args.json))
    atomic_write_text(out, text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""``experiments/README.md``: one rendered paragraph per study, every number from its JSON (the
README and the docs link here instead of typing results).

    python -m experiments.summary     (or ``python -m experiments.rerender``)
"""

from __future__ import annotations

import json
from pathlib import Path

from experiments.common import Rendered
from experiments.htopk_adaptive_control import render as control
from experiments.htopk_pareto import render_dsae_default, render_dsae_scaling, render_readings
from experiments.htopk_pareto.main_runs import main_runs
from experiments.htopk_pareto.render_main import verdict as htopk_verdict
from experiments.lime_ablation import render as ablation
from experiments.lime_arithmetic import render as arithmetic
from experiments.lime_arithmetic import render_scale as arith_scale
from experiments.lime_arithmetic import stats as arith_stats
from experiments.lime_depth import render_paired as depth
from experiments.lime_reproduction import render as reproduction
from experiments.lime_reproduction.stats import RESOLVED_AT, difference, int_keyed, lm_summary

HERE = Path(__file__).resolve().parent
PAGE = HERE / "README.md"

INDEX = """\
# Experiments

One folder per study: its runner (`run*.py`), renderer (`render*.py`), pre-registration and results
(JSON, the rendered Markdown, figures). Every paragraph below is rendered from the studies' JSON by
`python -m experiments.summary`; `python -m experiments.rerender --check` (run by CI) fails when
any results file differs from its rendering.

| study | question | results |
|---|---|---|
| `htopk_pareto/` | is one HierarchicalTopK SAE as good as a TopK SAE trained at each budget? d_sae scaling; adaptive budgets | [htopk_pareto.md](htopk_pareto/htopk_pareto.md) |
| `lime_reproduction/` | LIMe vs an equal-size vanilla model at small scale | [lime_reproduction.md](lime_reproduction/lime_reproduction.md) |
| `lime_arithmetic/` | the paper's step-by-step arithmetic task | [lime_arithmetic.md](lime_arithmetic/lime_arithmetic.md), [lime_arithmetic_scale.md](lime_arithmetic/lime_arithmetic_scale.md) |
| `lime_depth/` | does LIMe's advantage grow with depth? | [lime_depth.md](lime_depth/lime_depth.md), [lime_depth_paired.md](lime_depth/lime_depth_paired.md) |
| `htopk_adaptive_control/` | do adaptive budgets gain through hierarchical training or per-token allocation alone? | [control.md](htopk_adaptive_control/control.md) |
| `lime_ablation/` | the routing ablations of Table 7 | [lime_ablation.md](lime_ablation/lime_ablation.md) |
| `../results/benchmarks/` | speed and memory benchmarks | [README.md](../results/benchmarks/README.md) |
"""


def _dsae() -> str:
    scaling = render_dsae_scaling.differences(render_dsae_scaling.load_runs())
    default = render_dsae_default.differences(render_dsae_default.load_runs())
    parts = []
    for name, diffs, label in (
        ("synthetic data", scaling, "{:g}x"),
        ("the default model", default, "d_sae {:g}"),
    ):
        per_k, answer = render_dsae_scaling.verdict(diffs, int(diffs["k"].max()))
        lo, hi = diffs["ratio"].min(), diffs["ratio"].max()
        means = diffs.groupby(["k", "ratio"])["ev_diff"].mean()
        words = "; ".join(
            f"k = {k} {per_k[k]} ({means[k, lo]:+.4f} -> {means[k, hi]:+.4f})"
            for k in sorted(per_k)
        )
        parts.append(
            f"On {name} ({'d_sae ' if label == '{:g}x' else ''}{label.format(lo)} to "
            f"{label.format(hi)}{' the true features' if label == '{:g}x' else ''}, "
            f"{diffs['seed'].nunique()} seeds) the pre-registered answer is **{answer}**: {words}."
        )
    return "**Does the gap shrink as the dictionary grows?** " + " ".join(parts)


def htopk() -> list[str]:
    return [
        "## HierarchicalTopK vs TopK at every budget ([htopk_pareto.md](htopk_pareto/htopk_pareto.md))",
        "",
        htopk_verdict(main_runs()),
        "",
        _dsae(),
        "",
        render_readings.adaptive().replace("**Reading.**", "**Adaptive per-token budgets.**"),
        "",
        adaptive_control(),
    ]


def adaptive_control() -> str:
    """The control's pre-registered verdict per (rule, k), counted, from its JSONs."""
    runs = control.load_runs()
    if not runs:
        return (
            "**Adaptive-budget control** ([control.md](htopk_adaptive_control/control.md)): no run."
        )
    _, verdicts = control.decomposition_table(runs)
    headline = [v for key, v in verdicts.items() if not key.startswith("error")]
    counts = ", ".join(f"{w}: {headline.count(w)}" for w in sorted(set(headline)))
    return (
        "**Adaptive-budget control** ([control.md](htopk_adaptive_control/control.md)): the same "
        "rules, calibrated the same way, on the TopK SAE trained at K, seeds "
        f"{sorted(runs)}. Where the threshold and marginal rules gain over TopK trained at k "
        f"(k = 2, 4, 8), the pre-registered verdicts per (rule, k) count: {counts}."
    )


def lime_depth() -> list[str]:
    """The paired re-analysis' verdict lines (the pre-registered rule), from its JSON."""
    head = ["## Depth ([lime_depth_paired.md](lime_depth/lime_depth_paired.md))", ""]
    if not depth.PAIRED.is_file():
        return [*head, "No paired run yet; the first report is in its own page."]
    runs = json.loads(depth.PAIRED.read_text())["runs"]
    _, stats = depth.paired_table(runs, sorted({r["seed"] for r in runs}))
    return [
        *head,
        "Paired per seed on the same tokens, against the vanilla within 1% of LIMe-kv's "
        "parameters; T = D(32) - D(4) where D = LIMe-kv - vanilla validation loss (nats):",
        "",
        *depth.verdict_lines(stats),
    ]


def lime_reproduction() -> list[str]:
    payload = json.loads(reproduction.RESULT.read_text())
    runs = int_keyed(payload["runs"])
    lm = lm_summary([r for r in runs if r["task"] == "lm"])
    base = lm["vanilla"]
    losses = "; ".join(
        f"{arch} {s['val_loss_mean']:.4f} +- {s['val_loss_std']:.4f} ({s['n_params']:,} parameters"
        + (
            f", {100 * (s['n_params'] / base['n_params'] - 1):+.2f}% vs vanilla)"
            if s is not base
            else ")"
        )
        for arch, s in lm.items()
    )
    diffs = "; ".join(
        f"{arch} - vanilla {difference(lm, arch).diff:+.4f} (SE {difference(lm, arch).se:.4f}): "
        f"{difference(lm, arch).verdict}"
        for arch in list(lm)[:-1]
    )
    tokens = payload["meta"]["lm_train"]["max_steps"] * payload["meta"]["lm_train"]["batch_size"]
    tokens *= payload["meta"]["lm_context_size"]
    return [
        "## LIMe at small scale ([lime_reproduction.md](lime_reproduction/lime_reproduction.md))",
        "",
        f"Validation loss over seeds {base['seeds']} ({tokens:,} training tokens, the tiny recipe): "
        f"{losses}. Differences at {RESOLVED_AT:g} standard errors: {diffs}.",
    ]


def lime_arithmetic() -> list[str]:
    payload = json.loads(arithmetic.RESULT.read_text())
    runs = arithmetic.runs_at_last_point(payload)
    tiers = sorted(runs[arith_stats.LIME][0]["curve"][-1]["tiers"], key=int)
    last = runs[arith_stats.LIME][0]["curve"][-1]
    lines = []
    for t in tiers:
        d = arith_stats.difference(runs, t)
        const = arith_stats.constant_answer_pct(payload, t)
        scores = "; ".join(
            f"{arch} "
            + " / ".join(f"{100 * r['curve'][-1]['tiers'][t]['accuracy']:.1f}%" for r in mine)
            for arch, mine in runs.items()
        )
        lines.append(
            f"N={t}: {scores} (constant answer {const:.1f}%), LIMe-kv - vanilla {d.mean:+.1f} points "
            f"(SE {d.se:.1f}, {d.word})"
        )
    return [
        "## The paper's arithmetic task ([lime_arithmetic.md](lime_arithmetic/lime_arithmetic.md))",
        "",
        f"After {last['epoch']:.2f} epochs ({100 * last['epoch'] / 200:.2f}% of the paper's 200), "
        f"accuracy by seed: {'; '.join(lines)}. Verdict: "
        f"{arithmetic.verdict(runs, tiers)}.",
        "",
        arithmetic_scale(),
    ]


def arithmetic_scale() -> str:
    """The scale run's state: points scored, the last point's accuracies, the verdict once ended."""
    head = "**At a real fraction of the paper's budget** ([lime_arithmetic_scale.md](lime_arithmetic/lime_arithmetic_scale.md)): "
    if not arith_scale.RESULT.is_file():
        return head + "the run has not been collected yet."
    record = json.loads(arith_scale.RESULT.read_text())
    if not record["curve"]:
        return head + "no point scored yet."
    seeds, last = list(record["run"]["seeds"]), record["curve"][-1]
    tiers = arith_scale.tiers_of(record)
    diffs = "; ".join(
        f"N={t} {100 * d.mean:+.1f} points (SE {100 * d.se:.1f})"
        for t in tiers
        for d in [arith_scale.lime_minus_vanilla(last, seeds, t)]
    )
    state = (
        f"verdict: {arith_scale.verdict(last, seeds, tiers)}; lowest accuracy of any model "
        f"in any tier there: {100 * arith_scale.lowest(last, seeds, tiers)[0]:.1f}%"
        if arith_scale.has_ended(record)
        else "no verdict yet (the rule is applied once the run ends)"
    )
    return head + (
        f"{len(record['curve'])} of {len(record['points'])} points scored, the last at "
        f"{last['epoch']:.2f} of E = {record['run']['epochs']:g} epochs; LIMe-kv - vanilla there, "
        f"over seeds {seeds} on the full test sets: {diffs}; {state}."
    )


def lime_ablation() -> list[str]:
    payload = json.loads(ablation.RESULT.read_text())
    summary = ablation.summarise(payload["runs"])
    return [
        "## Routing ablations ([lime_ablation.md](lime_ablation/lime_ablation.md))",
        "",
        *ablation.verdicts(summary),
    ]


def page() -> str:
    sections = [
        INDEX,
        *htopk(),
        "",
        *lime_reproduction(),
        "",
        *lime_arithmetic(),
        "",
        *lime_depth(),
        "",
        *lime_ablation(),
        "",
    ]
    return "\n".join(sections)


def rendered() -> list[Rendered]:
    return [Rendered(PAGE, page())]


if __name__ == "__main__":
    Rendered(PAGE, page()).write()
    print(f"wrote {PAGE}")

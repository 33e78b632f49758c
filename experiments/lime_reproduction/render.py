"""Render the JSON written by ``experiments.lime_reproduction.run`` as Markdown tables and verdicts.

    python -m experiments.lime_reproduction.render [experiments/lime_reproduction/lime_reproduction.json] [--out FILE.md]

Every number and verdict comes from the JSON (``meta`` and the raw ``runs``); the only constants
are the paper's reference figures below. ``--out`` defaults to ``lime_reproduction.md`` next to
the JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any

from experiments.common import Rendered, repo_path
from experiments.lime_reproduction.stats import (
    BASELINE,
    RESOLVED_AT,
    arches,
    arith_summary,
    difference,
    int_keyed,
    lm_summary,
)
from lime_lens.serialization import atomic_write_text

PAPER_LM = {"perplexity_gain_pct": 1.15, "nats": 0.0114, "params": "1B", "tokens": "~50B"}
"""Gerasimov et al., arXiv 2502.09245 v2: LIMe's language-modelling gain over LLaMA at 1B."""
PAPER_ARITH = {"n": 6, "lime-kv": 71.6, BASELINE: 41.3, "epochs": 200}
"""The same paper, v2 §5.3.2 (task in App. B, recipe in App. A): accuracy (%) at 6 operands
on its step-by-step task, 200 epochs. Quoted for contrast only: the smoke task here is different."""
PAPER_ARITH_SHAPE = {"n_layers": 4, "n_heads": 4, "d_model": 32}
"""The same paper, v2 §5.3.2 / App. A: the arithmetic models' size."""
PAPER_LM_150M_NATS = 0.033
"""The same paper, v2 App. D Table 7: LLaMA vs LIMe at 150M, ln(16.4611 / 15.9267) nats."""
OVERFIT_POINTS = 5.0
"""Training accuracy more than this many points above held-out accuracy counts as overfitting."""
UNDERFIT_PCT = 50.0
"""Training accuracy below this (%) without overfitting counts as underfitting."""


def lm_lines(lm: dict[str, Any]) -> list[str]:
    lines = [
        "| model | parameters | vs vanilla | val loss (mean +- std) | per seed | val perplexity | train tok/s |",
        "|---|---|---|---|---|---|---|",
    ]
    base = lm[BASELINE]["n_params"]
    for arch, s in lm.items():
        n, mean, std = s["n_params"], s["val_loss_mean"], s["val_loss_std"]
        per_seed = ", ".join(f"{x:.4f}" for x in s["val_losses"])
        lines.append(
            f"| {arch} | {n:,} | {100 * (n - base) / base:+.2f}% | {mean:.4f} +- {std:.4f} | {per_seed} "
            f"| {math.exp(mean):.2f} | {s['tokens_per_s_mean']:,.0f} |"
        )
    return lines


def arith_lines(runs: list[dict[str, Any]], arith: dict[str, Any]) -> list[str]:
    ns = sorted(arith[BASELINE]["accuracy_pct"])
    lines = [
        "| model | parameters | "
        + " | ".join(f"N={n}" for n in ns)
        + f" | train acc N={max(ns)} | tok/s |",
        "|---|---|" + "---|" * len(ns) + "---|---|",
    ]
    for arch, s in arith.items():
        mine = [r for r in runs if r["arch"] == arch]
        cells = " | ".join(
            f"{a['mean']:.1f}" + (f" +- {a['std']:.1f}" if len(mine) > 1 else "")
            for a in s["accuracy_pct"].values()
        )
        train = statistics.fmean(100 * r["train_accuracy"][max(ns)] for r in mine)
        tok_s = statistics.fmean(r["tokens_per_s"] for r in mine)
        lines.append(f"| {arch} | {s['n_params']:,} | {cells} | {train:.1f} | {tok_s:,.0f} |")
    return lines


def comparison_lines(lm: dict[str, Any], arith: dict[str, Any]) -> list[str]:
    lines = []
    for arch in list(lm)[:-1]:
        d = difference(lm, arch)
        lines.append(
            f"- {arch} - {BASELINE}: {d.diff:+.4f} nats/token (standard error {d.se:.4f}; perplexity "
            f"{100 * math.expm1(d.diff):+.2f}%): {d.verdict} at {RESOLVED_AT:g} standard errors over these seeds."
        )
    n_max = max(arith[BASELINE]["accuracy_pct"])
    acc = {a: arith[a]["accuracy_pct"][n_max]["mean"] for a in arith}
    lines.append(
        f"- Mod-10 smoke task, N={n_max}: LIMe-kv {acc['lime-kv']:.1f}% vs {BASELINE} "
        f"{acc[BASELINE]:.1f}% exact match. This does not test the paper's arithmetic claim "
        f"({PAPER_ARITH['lime-kv']}% vs {PAPER_ARITH[BASELINE]}% at 6 operands after "
        f"{PAPER_ARITH['epochs']} epochs, v2 §5.3.2): a different task, trained for a few epochs; "
        "the paper's task is in `experiments/lime_arithmetic/lime_arithmetic.md`."
    )
    return lines


def _threads(runs: list[dict[str, Any]]) -> str:
    threads = sorted({r["torch_threads"] for r in runs if "torch_threads" in r})
    return "one torch thread each" if threads == [1] else f"torch threads {threads}"


def header_lines(meta: dict[str, Any], runs: list[dict[str, Any]], json_name: str) -> list[str]:
    return [
        "# LIMe at small scale on CPU: language modelling (within seed noise) and a mod-10 "
        "arithmetic smoke task (not the paper's task)",
        "",
        f"Produced by `{meta['command']}` in {meta['wall_time_s'] / 60:.1f} min wall "
        f"({meta['jobs']} runs in parallel, {_threads(runs)}; torch {meta['torch']}, {meta['machine']}).",
        f"Raw numbers, loss curves and every run's config: `{json_name}`.",
        "Seed-0 runs read from the shipped tiny models' `metrics.json` (identical recipe; `--retrain-shipped` "
        f"retrains them): {meta['reused'] or 'none'}.",
        "",
    ]


def lm_section(meta: dict[str, Any], lm: dict[str, Any]) -> list[str]:
    tokens = (
        meta["lm_train"]["max_steps"] * meta["lm_train"]["batch_size"] * meta["lm_context_size"]
    )
    n_lime = len(lm) - 1
    matched = "both LIMe models" if n_lime == 2 else f"all {n_lime} LIMe models"
    return [
        "## 1. Language modelling (embedded Austen corpus, BPE-4096)",
        "",
        f"LIMe shape {meta['lm_shape']}; vanilla baseline d_mlp={meta['lm_baseline_shape']['d_mlp']} "
        f"(matched to {matched}). LLaMA-style (RMSNorm, rotary, gated SiLU MLP). Each run: "
        f"{tokens:,} training tokens (rows of {meta['lm_context_size']}), trainer "
        f"`lime_lens.train.train` with {meta['lm_train']}; validation loss on the whole validation split.",
        "",
        *lm_lines(lm),
        "",
    ]


def arith_section(
    meta: dict[str, Any], runs: list[dict[str, Any]], arith: dict[str, Any]
) -> list[str]:
    shape = meta["arith_shape"]
    size = f"{shape['n_layers']} layers, {shape['n_heads']} heads, d_model {shape['d_model']}"
    paper = all(shape[k] == v for k, v in PAPER_ARITH_SHAPE.items())
    sizes = {int(n): v for n, v in meta["arith_sizes"].items()}
    epochs = (
        meta["arith_train"]["max_steps"]
        * meta["arith_train"]["batch_size"]
        / sum(train for train, _ in sizes.values())
    )
    return [
        f"## 2. Mod-10 arithmetic smoke task ({'paper size: ' if paper else ''}{size})",
        "",
        "Not the paper's arithmetic task (v2 §5.3.2, App. A/B: + − × ÷ with parentheses, a "
        "step-by-step solution, scored by generation; see `experiments/lime_arithmetic/lime_arithmetic.md`). This one "
        "asks for the value mod 10 in one forward pass and is scored teacher-forced; the models saw "
        f"{epochs:.1f} epochs of it (the paper trains 200).",
        "",
        "Task: `lime_lens.arithmetic.SmokeTask()` (operands 0..9, `+ - *` with usual precedence, "
        "answer = value mod 10, character vocabulary, answer after `=`; module docstring of "
        "`lime_lens.arithmetic.smoke_task`). One model per architecture trained on the mixture of "
        f"N = {min(sizes)}..{max(sizes)} (train/test expressions per N: {sizes}); exact-match accuracy (%) "
        f"on each N's held-out expressions. Shape {shape}; trainer settings {meta['arith_train']}. "
        "Chance is 10%.",
        "",
        *arith_lines(runs, arith),
        "",
    ]


def fit_lines(lm_runs: list[dict[str, Any]], arith_runs: list[dict[str, Any]]) -> list[str]:
    """Whether the runs were still improving (language modelling) or overfitting (arithmetic)."""
    falling = sum(r["val_history"][-1]["loss"] < r["val_history"][-2]["loss"] for r in lm_runs)
    n = max(int(k) for k in arith_runs[0]["accuracy"])
    parts, accs = [], []
    for arch in arches(arith_runs):
        mine = [r for r in arith_runs if r["arch"] == arch]
        train = statistics.fmean(100 * r["train_accuracy"][n] for r in mine)
        test = statistics.fmean(100 * r["accuracy"][n] for r in mine)
        parts.append(f"{arch} {train:.1f}% on training expressions vs {test:.1f}% held out")
        accs.append((train, test))
    gap = max(train - test for train, test in accs)
    if gap > OVERFIT_POINTS:
        fit = f"up to {gap:.1f} points of overfitting"
    elif max(train for train, _ in accs) < UNDERFIT_PCT:
        fit = "the models underfit, not overfit"
    else:
        fit = "no overfitting"
    seeds = {len([r for r in arith_runs if r["arch"] == a]) for a in arches(arith_runs)}
    caveat = (
        " One arithmetic seed per architecture: its accuracies have no standard error, so differences "
        "of a few points are not resolved."
        if seeds == {1}
        else ""
    )
    return [
        f"Validation loss was still falling at the last evaluation in {falling} of {len(lm_runs)} "
        f"language-modelling runs. Arithmetic at N={n}: {'; '.join(parts)}: {fit}.{caveat}",
        "",
    ]


def scale_lines(meta: dict[str, Any], lm: dict[str, Any]) -> list[str]:
    tokens = (
        meta["lm_train"]["max_steps"] * meta["lm_train"]["batch_size"] * meta["lm_context_size"]
    )
    params = statistics.fmean(s["n_params"] for s in lm.values())
    return [
        f"For scale: the paper's v2 language-modelling gain is {PAPER_LM['perplexity_gain_pct']}% lower "
        f"perplexity ({PAPER_LM['nats']} nats/token), measured at {PAPER_LM['params']} parameters and "
        f"{PAPER_LM['tokens']} tokens; here the models have {params / 1e6:.1f}M parameters and see "
        f"{tokens / 1e6:.1f}M tokens. The standard error of the LIMe-kv - {BASELINE} difference here "
        f"({difference(lm, 'lime-kv').se:.3f} nats) is of the size of the paper's effect at 150M "
        f"({PAPER_LM_150M_NATS} nats, App. D Table 7), so these seeds can neither confirm nor refute "
        "it: the language-modelling comparison is within seed noise, not a reproduction.",
        "",
    ]


def throughput_lines(meta: dict[str, Any], runs: list[dict[str, Any]]) -> list[str]:
    load = meta.get("load_average")
    machine = f" on {meta['cpu_count']} CPU cores" if "cpu_count" in meta else ""
    during = f" (load average {load[0]:.1f} at the start, {load[1]:.1f} at the end)" if load else ""
    return [
        f"The tok/s columns are the trainer's wall-clock figure of each run{machine}, {meta['jobs']} runs "
        f"in parallel with {_threads(runs)}{during}, so they do not compare architectures: "
        "`OMP_NUM_THREADS=1 python benchmarks/bench_lime_trainer.py` alternates the models in one process "
        "for that (`results/benchmarks/lime_trainer.json`).",
        "",
    ]


def render(payload: dict[str, Any], json_name: str) -> str:
    """The Markdown report of a ``reproduce_lime.py`` JSON payload (``meta`` + ``runs``)."""
    meta, runs = payload["meta"], int_keyed(payload["runs"])
    lm_runs = [r for r in runs if r["task"] == "lm"]
    arith_runs = [r for r in runs if r["task"] == "arithmetic"]
    lm, arith = lm_summary(lm_runs), arith_summary(arith_runs)
    return "\n".join(
        [
            *header_lines(meta, lm_runs, json_name),
            *lm_section(meta, lm),
            *arith_section(meta, arith_runs, arith),
            "## Comparison",
            "",
            *comparison_lines(lm, arith),
            "",
            *scale_lines(meta, lm),
            *fit_lines(lm_runs, arith_runs),
            *throughput_lines(meta, lm_runs),
        ]
    )


RESULT = Path(__file__).resolve().parent / "lime_reproduction.json"


def rendered() -> list[Rendered]:
    """``lime_reproduction.md``, rendered from the committed ``lime_reproduction.json``."""
    text = render(json.loads(RESULT.read_text()), repo_path(RESULT))
    return [Rendered(RESULT.with_suffix(".md"), text)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("json", type=Path, nargs="?", default=RESULT)
    parser.add_argument(
        "--out", type=Path, default=None, help="default: lime_reproduction.md next to the JSON"
    )
    args = parser.parse_args(argv)
    out = args.out or args.json.with_name("lime_reproduction.md")
    atomic_write_text(out, render(json.loads(args.json.read_text()), repo_path(args.json)))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

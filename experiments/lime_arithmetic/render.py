"""Render the JSON of ``experiments.lime_arithmetic.run`` as Markdown, with the accuracy curves (PNG).

    python -m experiments.lime_arithmetic.render [experiments/lime_arithmetic/lime_arithmetic.json] [--out FILE.md]

Every number and verdict comes from the JSON; the only constants are the pre-registration
(committed before the run), the paper's reported figures and the decision threshold.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from experiments.common import Rendered, repo_path
from experiments.lime_arithmetic.stats import (
    BASELINE,
    LIME,
    SIZEABLE_SHARE,
    Runs,
    constant_answer_pct,
    difference,
    final_point,
    final_tier,
    real_tokens,
)
from lime_lens.serialization import atomic_write_text

PAPER_N6 = {LIME: 71.6, BASELINE: 41.3}
"""Gerasimov et al., arXiv 2502.09245 v2, §5.3.2: accuracy (%) at 6 operands after 200 epochs."""

HERE = Path(__file__).resolve().parent
RESULT = HERE / "lime_arithmetic.json"
PNG_NAME = "lime_arithmetic_curves.png"
PREREGISTRATION = (HERE / "preregistration.md").read_text()
"""Written and committed before the run (`git log` shows it unchanged since)."""


def curve_table(run: dict[str, Any], tiers: list[str]) -> list[str]:
    head = " | ".join(f"N={t} answer % | N={t} steps right %" for t in tiers)
    lines = [f"| step | epoch | {head} |", "|---|---|" + "---|" * 2 * len(tiers)]
    for point in run["curve"]:
        cells = " | ".join(
            f"{100 * point['tiers'][t]['accuracy']:.1f} | {100 * point['tiers'][t]['step_accuracy']:.1f}"
            for t in tiers
        )
        lines.append(f"| {point['step']} | {point['epoch']:.2f} | {cells} |")
    return lines


def plot_curves(runs: Runs, tiers: list[str], png: Path) -> None:
    """Mean over seeds at every point (the seeds share one schedule)."""
    fig = Figure(figsize=(9, 3.6))
    axes = fig.subplots(1, 2)
    for arch, mine in runs.items():
        style = "-" if arch == LIME else "--"
        for t in tiers:
            epochs = [p["epoch"] for p in mine[0]["curve"]]
            for ax, key in zip(axes, ("accuracy", "step_accuracy"), strict=True):
                ys = [
                    100 * sum(r["curve"][i]["tiers"][t][key] for r in mine) / len(mine)
                    for i in range(len(epochs))
                ]
                ax.plot(epochs, ys, style, marker="o", label=f"{arch} N={t}")
    axes[0].set_ylabel("final-answer accuracy (%)")
    axes[1].set_ylabel("steps right before the first wrong one (%)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def mean_accuracy(runs: list[dict[str, Any]], tier: str) -> float:
    """Accuracy (%) at the last point, mean over seeds (every seed scores the same expressions)."""
    return 100 * sum(final_tier(r, tier)["accuracy"] for r in runs) / len(runs)


def verdict(runs: Runs, tiers: list[str]) -> str:
    hard: list[str] = [t for t in ("5", "6") if t in tiers]
    outcomes = {t: difference(runs, t).word for t in hard}
    best_n6 = max(mean_accuracy(mine, tiers[-1]) for mine in runs.values())
    if hard and all(o == "LIMe-kv ahead" for o in outcomes.values()):
        return "supported at this scale (LIMe-kv ahead and resolved at 5 and 6 operands)"
    if best_n6 >= 100 * SIZEABLE_SHARE and outcomes.get(tiers[-1]) != "LIMe-kv ahead":
        return "not reproduced at this scale (models solve a sizeable share; LIMe-kv not ahead)"
    return (
        f"not tested at this scale (best accuracy at N={tiers[-1]}: {best_n6:.1f}%, below the "
        f"{100 * SIZEABLE_SHARE:.0f}% that counts as a sizeable share)"
    )


def comparison(payload: dict[str, Any], runs: Runs, tiers: list[str]) -> list[str]:
    """Per tier: the difference per seed and over seeds, and each model against a constant answer."""
    out = []
    for t in tiers:
        d = difference(runs, t)
        paper = f" (paper: {PAPER_N6[LIME] - PAPER_N6[BASELINE]:+.1f})" if t == "6" else ""
        seeds = "; ".join(
            f"seed {s}: {v:+.1f} (SE {e:.1f})" for s, (v, e) in sorted(d.per_seed.items())
        )
        const = constant_answer_pct(payload, t)
        models = "; ".join(
            arch + " " + " / ".join(f"{100 * final_tier(r, t)['accuracy']:.1f}%" for r in mine)
            for arch, mine in runs.items()
        )
        above = [
            f"{arch} seed {r['seed']}"
            for arch, mine in runs.items()
            for r in mine
            if 100 * final_tier(r, t)["accuracy"] > const
        ]
        out.append(
            f"- N={t}: LIMe-kv - vanilla = {d.mean:+.1f} points over seeds (SE {d.se:.1f}; {seeds}): "
            f"{d.word}{paper}. Always answering the most common value would score {const:.1f}%; "
            f"the models score {models} (by seed), so above it: {', '.join(above) or 'none'}."
        )
    return out


def addendum(payload: dict[str, Any], tiers: list[str]) -> list[str]:
    """What the pre-registration did not state, disclosed after the run from the JSON and code."""
    n = payload["runs"][0]["curve"][-1]["tiers"][tiers[-1]]["n"]
    sizes = {t: real_tokens(payload, t) for t in tiers}
    rows = ", ".join(f"N={t} {v:.1f}" for t, v in sizes.items())
    rows += f"; {sum(sizes.values()) / len(sizes):.1f} over the tiers"
    return [
        "### Addendum: decisions the pre-registration did not state (written after the run)",
        "",
        f'- "A sizeable share" in the decision rule is an accuracy of at least '
        f"{100 * SIZEABLE_SHARE:.0f}% at N={tiers[-1]} for the better model. This threshold was "
        "in the renderer's code, not in the pre-registration text.",
        f"- Scored: the first {n} of the {payload['task']['n_test']:,} held-out test expressions "
        "per tier, the same ones at every point and for every seed and model.",
        "- Tokens: one per character, spaces dropped (`lime_lens.arithmetic.step_vocab`). A row is "
        "BOS + expression + `=` + solution + EOS; the loss is taken on the solution and the EOS only.",
        f"- Rows are right-padded to {payload['row_length']} tokens; a row holds on average "
        f"{rows} real tokens (measured on each tier's test expressions).",
        "- Over seeds, the standard error is the mean of the per-seed ones: the seeds score the "
        "same expressions, so they are not independent samples (an earlier version of this page "
        "pooled them as if they were, which understated the standard error).",
        "",
    ]


def _provenance(
    payload: dict[str, Any], runs: Runs, last: dict[str, Any], source: str
) -> list[str]:
    """Command, machine, budget, schedule, trainer, parameters and extra seeds of the run."""
    meta, cfg = payload["meta"], payload["train_config"]
    return [
        f"Produced by `{meta['command']}` on {meta['device']} ({meta['device_name']}, torch "
        f"{meta['torch']}, {meta['torch_threads']} torch thread(s), {meta['cpu_count']} CPUs); "
        "machine specification beyond these: not recorded; wall time "
        f"{payload['wall_time_s'] / 60:.1f} min; raw data `{source}`.",
        f"Task: {payload['task']}. Training rows: {payload['train_rows']:,} (all tiers mixed), row "
        f"length {payload['row_length']} tokens; {payload['steps_per_epoch']} steps per epoch.",
        f"Budget: {meta['command'].split('--time-budget-s ')[-1].split()[0] if '--time-budget-s' in meta['command'] else 'none'} s; "
        f"schedule of {payload['max_steps']} steps = {payload['epochs_planned']:.2f} epochs "
        f"(paper: 200 epochs); reached {last['epoch']:.2f} epochs = "
        f"{last['step'] * cfg['batch_size']:,} training sequences, "
        f"{100 * last['epoch'] / 200:.2f}% of the paper's training length. Trainer: lr {cfg['lr']}, router lr "
        f"{cfg['router_lr']}, {cfg['schedule']} decay, warmup {cfg['warmup_steps']}, batch "
        f"{cfg['batch_size']}, weight decay {cfg['weight_decay']} (router none).",
        "Parameters: " + ", ".join(f"{a} {r[0]['n_params']:,}" for a, r in runs.items()) + ".",
        *[
            f"Seeds {extra['seeds']}: `{extra['command']}` (the same schedule, run afterwards; "
            f"wall time {extra['wall_time_s'] / 60:.1f} min)."
            for extra in payload.get("more_seeds", [])
        ],
    ]


def runs_at_last_point(payload: dict[str, Any]) -> Runs:
    """Per architecture, its runs (by seed) that reached the last point of the schedule."""
    n_points = len(payload["points"])
    return {
        arch: sorted(
            (r for r in payload["runs"] if r["arch"] == arch and len(r["curve"]) == n_points),
            key=lambda r: r["seed"],
        )
        for arch in (LIME, BASELINE)
    }


def render(payload: dict[str, Any], source: str, png: Path) -> str:
    runs = runs_at_last_point(payload)
    out = [PREREGISTRATION, "## Results", ""]
    if not all(runs.values()):
        return "\n".join([*out, "No run has reached the end of its schedule yet.", ""])
    tiers = sorted(final_point(runs[LIME][0])["tiers"], key=int)
    last = final_point(runs[LIME][0])
    out += [
        *_provenance(payload, runs, last, source),
        f"Seeds at the last point: { {a: [r['seed'] for r in mine] for a, mine in runs.items()} }; "
        "the curves show the mean over seeds.",
        "",
        f"![accuracy curves]({png.name})",
        "",
    ]
    for arch, mine in runs.items():
        for run in mine:
            out += [f"### {arch} (seed {run['seed']})", "", *curve_table(run, tiers), ""]
    out += ["### Comparison at the last point", "", *comparison(payload, runs, tiers)]
    out += ["", f"Verdict: {verdict(runs, tiers)}.", "", *addendum(payload, tiers)]
    reasons = {
        f"{a} seed {r['seed']}": final_point(r)["tiers"][tiers[-1]]["reasons"]
        for a, mine in runs.items()
        for r in mine
    }
    out += [f"Why wrong solutions at N={tiers[-1]} were wrong (last point): {reasons}.", ""]
    plot_curves(runs, tiers, png)
    return "\n".join(out)


def rendered() -> list[Rendered]:
    """``lime_arithmetic.md`` and its curves PNG, rendered from the committed JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / PNG_NAME
        text = render(json.loads(RESULT.read_text()), repo_path(RESULT), png)
        return [
            Rendered(RESULT.with_suffix(".md"), text),
            Rendered(HERE / PNG_NAME, png.read_bytes()),
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("json", nargs="?", type=Path, default=RESULT)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or args.json.with_suffix(".md")
    if args.json.is_file():
        text = render(
            json.loads(args.json.read_text()),
            repo_path(args.json),
            out.with_name(PNG_NAME),
        )
    else:
        text = "\n".join([PREREGISTRATION, "## Results", "", "The run has not started yet.", ""])
    atomic_write_text(out, text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Render the JSON of ``experiments.lime_arithmetic.run`` as Markdown, with the accuracy curves (PNG).

    python -m experiments.lime_arithmetic.render [experiments/lime_arithmetic/lime_arithmetic.json] [--out FILE.md]

Every number and verdict comes from the JSON; the only constants are the pre-registration
(committed before the run), the paper's reported figures and the decision threshold.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from experiments.common import Rendered, repo_path
from lime_lens.arithmetic.expression import exact_value
from lime_lens.arithmetic.step_task import StepTask, draw_expressions
from lime_lens.serialization import atomic_write_text

LIME, BASELINE = "lime-kv", "vanilla"
PAPER_N6 = {LIME: 71.6, BASELINE: 41.3}
"""Gerasimov et al., arXiv 2502.09245 v2, §5.3.2: accuracy (%) at 6 operands after 200 epochs."""

HERE = Path(__file__).resolve().parent
RESULT = HERE / "lime_arithmetic.json"
PNG_NAME = "lime_arithmetic_curves.png"
PREREGISTRATION = (HERE / "preregistration.md").read_text()
"""Written and committed before the run (`git log` shows it unchanged since)."""


def final_point(run: dict[str, Any]) -> dict[str, Any] | None:
    return run["curve"][-1] if run["curve"] else None


def constant_answer_pct(payload: dict[str, Any], tier: str) -> float:
    """Accuracy (%) of always answering the most common value of the scored test expressions
    (regenerated from the task: the test set is the first expressions drawn)."""
    n = payload["runs"][0]["curve"][-1]["tiers"][tier]["n"]  # every seed scores the same ones
    task = StepTask(**{**payload["task"], "n_train": 0, "n_test": n})
    _, test = draw_expressions(task, int(tier))
    values = [exact_value(e) for e in test]
    return 100 * max(values.count(v) for v in set(values)) / n


Runs = dict[str, list[dict[str, Any]]]
"""arch -> its runs (one per seed) that reached the last point."""


def pooled(runs: list[dict[str, Any]], tier: str) -> tuple[float, int]:
    """Accuracy at the last point over every seed's scored expressions, and their number."""
    finals = [final_point(r)["tiers"][tier] for r in runs]
    n = sum(f["n"] for f in finals)
    return sum(f["accuracy"] * f["n"] for f in finals) / n, n


def diff_line(runs: Runs, tier: str) -> tuple[float, float, str]:
    """LIMe minus vanilla accuracy (points) at the last point, pooled over seeds; its binomial SE
    (test-sampling noise of the pooled expressions) and the verdict."""
    (p1, n1), (p2, n2) = pooled(runs[LIME], tier), pooled(runs[BASELINE], tier)
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    diff = p1 - p2
    if se == 0 or abs(diff) <= 2 * se:
        return 100 * diff, 100 * se, "not resolved"
    return 100 * diff, 100 * se, "LIMe-kv ahead" if diff > 0 else "vanilla ahead"


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


def verdict(runs: Runs, tiers: list[str]) -> str:
    hard = [t for t in ("5", "6") if t in tiers]
    outcomes = {t: diff_line(runs, t)[2] for t in hard}
    best_n6 = max(100 * pooled(mine, tiers[-1])[0] for mine in runs.values())
    if hard and all(o == "LIMe-kv ahead" for o in outcomes.values()):
        return "supported at this scale (LIMe-kv ahead and resolved at 5 and 6 operands)"
    if best_n6 >= 20 and outcomes.get(tiers[-1]) != "LIMe-kv ahead":
        return "not reproduced at this scale (models solve a sizeable share; LIMe-kv not ahead)"
    return f"not tested at this scale (best accuracy at N={tiers[-1]}: {best_n6:.1f}%)"


def _provenance(
    payload: dict[str, Any], runs: Runs, last: dict[str, Any], source: str
) -> list[str]:
    """Command, machine, budget, schedule, trainer, parameters and extra seeds of the run."""
    meta, cfg = payload["meta"], payload["train_config"]
    return [
        f"Produced by `{meta['command']}` on {meta['device']} ({meta['device_name']}, torch "
        f"{meta['torch']}, {meta['torch_threads']} torch thread(s), {meta['cpu_count']} CPUs shared "
        f"with other jobs; load average {meta['load_average_start'][0]:.2f} at start, "
        f"{meta['load_average_end'][0]:.2f} at the last write); wall time "
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
            f"load average {extra['load_average_start'][0]:.2f} at its start)."
            for extra in payload.get("more_seeds", [])
        ],
    ]


def render(payload: dict[str, Any], source: str, png: Path) -> str:
    n_points = len(payload["points"])
    runs: Runs = {
        arch: sorted(
            (r for r in payload["runs"] if r["arch"] == arch and len(r["curve"]) == n_points),
            key=lambda r: r["seed"],
        )
        for arch in (LIME, BASELINE)
    }
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
    out += ["### Comparison at the last point (pooled over seeds)", ""]
    for t in tiers:
        diff, se, word = diff_line(runs, t)
        paper = f" (paper: {PAPER_N6[LIME] - PAPER_N6[BASELINE]:+.1f})" if t == "6" else ""
        out.append(
            f"- N={t}: LIMe-kv - vanilla = {diff:+.1f} points (SE {se:.1f}): {word}{paper}; "
            f"always answering the most common value would score {constant_answer_pct(payload, t):.1f}%."
        )
    out += ["", f"Verdict: {verdict(runs, tiers)}.", ""]
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

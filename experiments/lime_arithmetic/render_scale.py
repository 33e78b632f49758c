"""Render the 4-model scale run (``lime_lens.arithmetic.scale_run``; ``preregistration_scale.md``
and its amendment) from ``lime_arithmetic_scale.json``, with its accuracy curves (PNG).

    python -m experiments.lime_arithmetic.collect_scale RUN --session-hours H  # the record, in
    python -m experiments.lime_arithmetic.render_scale                         # or experiments.rerender

Every number comes from the JSON. The verdict is the pre-registered rule, applied once the run
has ended (E epochs, or 6.75 hours of invocations, amendment point 2); before that the page shows
the points scored so far and no verdict.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from experiments.common import Rendered, png_bytes, repo_path
from experiments.lime_arithmetic.collect_scale import RESULT
from experiments.lime_arithmetic.render import PAPER_N6
from experiments.lime_arithmetic.stats import (
    BASELINE,
    LIME,
    RESOLVED_AT,
    SIZEABLE_SHARE,
    constant_answer_of,
)
from lime_lens.arithmetic.scale_run import model_name
from lime_lens.arithmetic.step_recipe import STEP_EPOCHS
from lime_lens.arithmetic.step_stats import Combined, combined_difference

HERE = Path(__file__).resolve().parent
PAGE = HERE / "lime_arithmetic_scale.md"
PNG_NAME = "lime_arithmetic_scale_curves.png"
BUDGET_HOURS = 3 * 2.25
"""Pre-registered: 3 sessions of 2.25 hours, counted in hours (amendment, point 2)."""
PRE = [
    (HERE / name).read_text()
    for name in ("preregistration_scale.md", "preregistration_scale_amendment.md")
]


def hours_used(record: dict[str, Any]) -> float:
    return sum(s.get("wall_s", 0.0) for s in record["sessions"]) / 3600


def has_ended(record: dict[str, Any]) -> bool:
    """E epochs reached, or the hour budget spent (no further invocation may start)."""
    return bool(record.get("finished")) or hours_used(record) >= BUDGET_HOURS


def tier_result(entry: dict[str, Any], arch: str, seed: int, tier: str) -> dict[str, Any]:
    """One model's ``score_tier`` record at one scored point."""
    return entry["models"][model_name(arch, seed)]["tiers"][tier]


def accuracy(entry: dict[str, Any], arch: str, seed: int, tier: str) -> float:
    return tier_result(entry, arch, seed, tier)["accuracy"]


def tiers_of(record: dict[str, Any]) -> list[str]:
    """The operand counts scored (JSON keys), ascending; the record has at least one point."""
    entry, seed = record["curve"][0], record["run"]["seeds"][0]
    return sorted(entry["models"][model_name(LIME, seed)]["tiers"], key=int)


def lime_minus_vanilla(entry: dict[str, Any], seeds: list[int], tier: str) -> Combined:
    """Paired over each seed's full test set, combined over seeds (``step_stats``)."""
    bits = {
        arch: {s: tier_result(entry, arch, s, tier)["correct"] for s in seeds}
        for arch in (LIME, BASELINE)
    }
    return combined_difference(bits[LIME], bits[BASELINE])


def verdict(entry: dict[str, Any], seeds: list[int], tiers: list[str]) -> str:
    """The pre-registered rule at one scored point."""
    ahead = {
        t: (d.mean > RESOLVED_AT * d.se)
        for t in tiers
        for d in [lime_minus_vanilla(entry, seeds, t)]
    }
    top = tiers[-1]
    best = max(
        statistics.fmean(accuracy(entry, a, s, top) for s in seeds) for a in (LIME, BASELINE)
    )
    if ahead.get("5") and ahead.get("6"):
        return "supported at this scale (LIMe-kv ahead and resolved at N = 5 and N = 6)"
    if best >= SIZEABLE_SHARE and not ahead[top]:
        return (
            f"not reproduced (the better model reaches {100 * best:.1f}% at N = {top}, at least "
            f"{100 * SIZEABLE_SHARE:.0f}%; LIMe-kv not resolved ahead there)"
        )
    return (
        f"not tested at this scale (best accuracy at N = {top}: {100 * best:.1f}%, under "
        f"{100 * SIZEABLE_SHARE:.0f}%; {entry['epoch']:.1f} epochs, "
        f"{100 * entry['epoch'] / STEP_EPOCHS:.1f}% of the paper's {STEP_EPOCHS})"
    )


def lowest(entry: dict[str, Any], seeds: list[int], tiers: list[str]) -> tuple[float, str, str]:
    """The lowest accuracy of any model in any tier at one point: (accuracy, model, tier)."""
    return min(
        (accuracy(entry, a, s, t), model_name(a, s), t)
        for a in (LIME, BASELINE)
        for s in seeds
        for t in tiers
    )


def ceiling_line(entry: dict[str, Any], seeds: list[int], tiers: list[str]) -> str:
    """How close both arms are to 100% where the verdict is taken: the rule cannot see a gap
    the test set leaves no room for (paper v2 §5.3.2 has vanilla at 41.3% at N = 6)."""
    acc, model, tier = lowest(entry, seeds, tiers)
    return (
        f"At that point the lowest accuracy of any model in any tier is {100 * acc:.1f}% "
        f"({model}, N = {tier}): both arms are within {100 * (1 - acc):.1f} points of 100%, "
        f"where the paper's vanilla model scored {PAPER_N6[BASELINE]}% at N = 6. The verdict "
        "is the rule as written; it is taken on a test this recipe has nearly saturated."
    )


def tier_table(record: dict[str, Any], tier: str, seeds: list[int]) -> list[str]:
    """One row per scored point: each model's accuracy and the combined difference."""
    models = [(a, s) for a in (LIME, BASELINE) for s in seeds]
    names = " | ".join(model_name(a, s) for a, s in models)
    lines = [
        f"| step | epoch | % of paper | {names} | LIMe-kv - vanilla (SE) |",
        "|---|---|---|" + "---|" * len(models) + "---|",
    ]
    for entry in record["curve"]:
        d = lime_minus_vanilla(entry, seeds, tier)
        accs = " | ".join(f"{100 * accuracy(entry, a, s, tier):.1f}" for a, s in models)
        lines.append(
            f"| {entry['step']:,} | {entry['epoch']:.2f} | {100 * entry['epoch'] / STEP_EPOCHS:.2f} "
            f"| {accs} | {100 * d.mean:+.1f} ({100 * d.se:.1f}) |"
        )
    return lines


def plot(
    record: dict[str, Any], tiers: list[str], seeds: list[int], constant: dict[str, float]
) -> Figure:
    """Accuracy per tier against epochs over the whole schedule (0..E): one line per model."""
    fig = Figure(figsize=(3.2 * len(tiers), 3.2))
    epochs = [e["epoch"] for e in record["curve"]]
    for ax, tier in zip(fig.subplots(1, len(tiers), squeeze=False)[0], tiers, strict=True):
        for arch, style, color in ((LIME, "-", "tab:blue"), (BASELINE, "--", "tab:orange")):
            for seed, marker in zip(seeds, "os^v", strict=False):
                ys = [100 * accuracy(e, arch, seed, tier) for e in record["curve"]]
                ax.plot(epochs, ys, style, color=color, marker=marker, label=f"{arch} seed {seed}")
        ax.axhline(constant[tier], color="grey", linestyle=":", label="constant answer")
        ax.set_xlim(0, record["run"]["epochs"])
        ax.set_ylim(0, 100)
        ax.set_title(f"N = {tier} operands")
        ax.set_xlabel(f"epoch (schedule: {record['run']['epochs']:g})")
        ax.set_ylabel("final-answer accuracy (%)")
    fig.axes[0].legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    return fig


def invocations(record: dict[str, Any]) -> list[str]:
    """Per invocation: the steps it trained, its wall time and its provenance; then the notes
    recorded at collection (``collect_scale --note``)."""
    lines = [
        "| invocation | from step | to step | wall h | command | commit at collection |",
        "|---|---|---|---|---|---|",
    ]
    for k, (s, inv) in enumerate(zip(record["sessions"], record["invocations"], strict=True), 1):
        lines.append(
            f"| {k} | {s['started_at_step']:,} | {s.get('ended_at_step', s['started_at_step']):,} "
            f"| {s.get('wall_s', 0.0) / 3600:.2f} | `{inv['command']}` "
            f"| `{inv['git_commit_at_collection'][:12]}` |"
        )
    notes = [
        f"Invocation {k}: {inv['note']}"
        for k, inv in enumerate(record["invocations"], 1)
        if "note" in inv
    ]
    return [*lines, "", *notes] if notes else lines


def setup_lines(record: dict[str, Any], source: str) -> list[str]:
    run, task = record["run"], record["run"]["task"]
    machine = record["invocations"][0]["machine"]
    return [
        f"Raw data `{source}` (collected from the run folder by "
        "`python -m experiments.lime_arithmetic.collect_scale`).",
        f"Task: generator version {task['version']}, {task['n_train']:,} training and "
        f"{task['n_test']:,} test expressions per tier, tiers {task['n_operands']}. Models "
        f"{list(run['arches'])} x seeds {list(run['seeds'])}, one stack on "
        f"{'packed' if run['packed'] else 'padded'} rows, device {run['device']}, compile "
        f"{run['compile']}. Schedule: E = {run['epochs']:g} epochs = {record['max_steps']:,} steps "
        f"of {record['steps_per_epoch']:,} per epoch ({100 * run['epochs'] / STEP_EPOCHS:.1f}% "
        f"of the paper's {STEP_EPOCHS} epochs); scored at steps {record['points']}.",
        f"Machine: {machine['cpu']}, {machine['cpu_count']} CPUs, torch {machine['torch']} "
        "(the run's threads: `scale_run --threads`, default every CPU it may use).",
    ]


def render(record: dict[str, Any], source: str) -> tuple[str, Figure | None]:
    out = [*PRE, "## Results", ""]
    if not record["curve"]:
        return "\n".join([*out, "No point has been scored yet.", ""]), None
    seeds = list(record["run"]["seeds"])
    tiers = tiers_of(record)
    n = {t: tier_result(record["curve"][0], LIME, seeds[0], t)["n"] for t in tiers}
    constant = {t: constant_answer_of(record["run"]["task"], t, n[t]) for t in tiers}
    last = record["curve"][-1]
    out += [*setup_lines(record, source), "", *invocations(record), ""]
    out += [
        f"Invocation time: {hours_used(record):.2f} h of the {BUDGET_HOURS:g} h budget; "
        f"{len(record['curve'])} of {len(record['points'])} points scored, the last at "
        f"{last['epoch']:.2f} epochs. The paper, after {STEP_EPOCHS} epochs at N = 6: LIMe "
        f"{PAPER_N6[LIME]}%, vanilla {PAPER_N6[BASELINE]}%.",
        "",
        f"![accuracy per tier]({PNG_NAME})",
        "",
    ]
    for t in tiers:
        out += [
            f"### N = {t}: final-answer accuracy (%) on all {n[t]:,} test expressions",
            "",
            *tier_table(record, t, seeds),
            "",
            f"Always answering the most common value scores {constant[t]:.1f}%. The difference "
            "is paired per seed over the same expressions and combined over seeds "
            "(`lime_lens.arithmetic.step_stats.combined_difference`), in points.",
            "",
        ]
    if has_ended(record):
        where = (
            "E epochs reached"
            if record.get("finished")
            else f"the {BUDGET_HOURS:g} h budget spent before E: taken at the last point, "
            f"{last['epoch']:.2f} of {record['run']['epochs']:g} epochs"
        )
        out += [
            f"**Verdict** (pre-registered rule; {where}): {verdict(last, seeds, tiers)}.",
            "",
            ceiling_line(last, seeds, tiers),
            "",
        ]
    else:
        out += [
            "**Verdict: none yet.** The run has not ended (E epochs, or the hour budget); the "
            "rule is applied once, at the end, and not to the points above.",
            "",
        ]
    return "\n".join(out), plot(record, tiers, seeds, constant)


def rendered() -> list[Rendered]:
    """``lime_arithmetic_scale.md`` and its curves, from the committed JSON (none: not started)."""
    if not RESULT.is_file():
        text = "\n".join([*PRE, "## Results", "", "The run has not been collected yet.", ""])
        return [Rendered(PAGE, text)]
    text, fig = render(json.loads(RESULT.read_text()), repo_path(RESULT))
    files = [Rendered(PAGE, text)]
    if fig is not None:
        files.append(Rendered(HERE / PNG_NAME, png_bytes(fig, dpi=110)))
    return files


def main() -> None:
    for file in rendered():
        file.write()
        print(f"wrote {repo_path(file.path)}")


if __name__ == "__main__":
    main()

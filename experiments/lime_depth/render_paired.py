"""Render ``lime_depth_paired.json`` (``run_paired``) as ``lime_depth_paired.md``: the paired
pre-registration verbatim, the first rule's unpaired numbers with the baseline each uses, the
per-seed paired differences, and the verdict by the paired rule (or why there is none yet).

    python -m experiments.lime_depth.render_paired

Every number comes from the two JSONs; the constants are those of ``pairs`` (pre-registered).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from experiments.common import Rendered, repo_path
from experiments.lime_depth.pairs import (
    DEPTHS,
    LIME,
    MATCHED,
    MIN_SEEDS,
    PARAM_TOLERANCE,
    PRIMARY_SEEDS,
    Interval,
    interval_verdict,
    paired_differences,
    t_interval,
    trend_contrasts,
)
from experiments.lime_depth.render import BASELINE, summarise
from lime_lens.serialization import atomic_write_text

HERE = Path(__file__).resolve().parent
PAIRED = HERE / "lime_depth_paired.json"
FIRST = HERE / "lime_depth.json"
PREREGISTRATION = HERE / "preregistration_paired.md"
SHALLOW, DEEP = DEPTHS


def baseline_at(runs: list[dict[str, Any]], depth: int) -> tuple[str, float]:
    """The pre-registered baseline at ``depth`` (``vanilla`` if within 1% of LIMe-kv, else
    ``vanilla-matched-kv``) and its parameter gap, from the stored counts; refuses a miss."""
    params = {r["arch"]: r["n_params"] for r in runs if r["depth"] == depth}
    for arch in (BASELINE, MATCHED):
        if arch in params and LIME in params:
            gap = params[arch] / params[LIME] - 1
            if abs(gap) <= PARAM_TOLERANCE:
                return arch, gap
    raise ValueError(f"depth {depth}: no vanilla within 1% of LIMe-kv among {sorted(params)}")


def _iv(iv: Interval) -> str:
    if math.isnan(iv.low):
        return f"{iv.mean:+.4f} (one seed: no interval)"
    return (
        f"{iv.mean:+.4f} [{iv.low:+.4f}, {iv.high:+.4f}] (sd {iv.sd:.4f}, n {iv.n}, t {iv.t:.3f})"
    )


def unpaired_lines(first: list[dict[str, Any]]) -> list[str]:
    """The first rule's trend contrast, Delta(32) - Delta(4) with its unpaired SE, against each
    vanilla the first report used at depth 32 (at depth 4 both use ``vanilla``, +0.19%)."""
    lo = summarise([r for r in first if r["depth"] == SHALLOW], BASELINE).get(SHALLOW, {})
    lines = []
    for baseline in (BASELINE, MATCHED):
        deep = [r for r in first if r["depth"] == DEEP and r["arch"] in (LIME, baseline)]
        hi = summarise(deep, baseline).get(DEEP, {})
        if "diff" not in hi or "diff" not in lo:
            continue
        gap = hi[baseline]["n_params"] / hi[LIME]["n_params"] - 1
        contrast, se = hi["diff"] - lo["diff"], math.hypot(hi["se"], lo["se"])
        lines.append(
            f"- Against `{baseline}` at depth {DEEP} ({gap:+.2%} parameters vs LIMe-kv): "
            f"Delta({DEEP}) - Delta({SHALLOW}) = {contrast:+.4f} nats, unpaired SE {se:.4f}, "
            f"{len(hi[LIME]['losses'])} seeds per model."
        )
    return lines


def paired_table(runs: list[dict[str, Any]], seeds: list[int]) -> tuple[list[str], dict[str, Any]]:
    """Per seed: D(4), D(32) and T; plus the differences by depth for the intervals."""
    base = {d: baseline_at(runs, d)[0] for d in DEPTHS}
    diffs = {d: paired_differences(runs, d, base[d]) for d in DEPTHS}
    contrasts = trend_contrasts(diffs[SHALLOW], diffs[DEEP])
    lines = [
        f"| seed | D({SHALLOW}) = LIMe-kv - {base[SHALLOW]} | D({DEEP}) = LIMe-kv - {base[DEEP]} "
        f"| T = D({DEEP}) - D({SHALLOW}) |",
        "|---|---|---|---|",
    ]
    for s in seeds:
        cells = [f"{diffs[d][s]:+.4f}" if s in diffs[d] else "not run" for d in DEPTHS]
        t = f"{contrasts[s]:+.4f}" if s in contrasts else ""
        lines.append(f"| {s} | {cells[0]} | {cells[1]} | {t} |")
    return lines, {"diffs": diffs, "contrasts": contrasts, "base": base}


def verdict_lines(stats: dict[str, Any]) -> list[str]:
    """The primary (trend) and secondary (per depth) verdicts on the pre-registered seeds, then
    every complete seed as a secondary line."""
    primary = {s: v for s, v in stats["contrasts"].items() if s in PRIMARY_SEEDS}
    lines = []
    if primary:
        trend = t_interval(list(primary.values()))
        word = interval_verdict(
            trend, "LIMe's advantage grows with depth", "LIMe's advantage shrinks with depth"
        )
        positive = sum(v > 0 for v in primary.values())
        lines += [
            f"**Primary verdict (trend, seeds {sorted(primary)}): {word}.** Mean T with its 95% t "
            f"interval: {_iv(trend)} nats; T > 0 (LIMe-kv relatively worse at {DEEP} layers) in "
            f"{positive} of {len(primary)} seeds.",
            "",
        ]
    else:
        lines += [f"**No verdict:** no seed is complete at depths {SHALLOW} and {DEEP}.", ""]
    for d in DEPTHS:
        values = [v for s, v in stats["diffs"][d].items() if s in PRIMARY_SEEDS]
        if values:
            iv = t_interval(values)
            word = interval_verdict(iv, "LIMe-kv lower", "LIMe-kv higher")
            lines.append(
                f"- Secondary, depth {d} (vs `{stats['base'][d]}`): D = {_iv(iv)} nats: {word}."
            )
    extra = sorted(set(stats["contrasts"]) - set(PRIMARY_SEEDS))
    if extra:
        every = t_interval(list(stats["contrasts"].values()))
        lines.append(
            f"- All complete seeds (with extra seeds {extra}; no verdict): T = {_iv(every)}."
        )
    return lines


def machine_spec(recorded: str) -> str:
    """The machine's specification as the runs recorded it, without the scheduling remark that
    earlier invocations appended (it describes circumstances, not the run)."""
    return recorded.removesuffix(" shared with other jobs")


def provenance_lines(meta: dict[str, Any], runs: list[dict[str, Any]]) -> list[str]:
    reused = sorted(f"{r['arch']} d{r['depth']} s{r['seed']}" for r in runs if r.get("source"))
    done = {(r["arch"], r["depth"], r["seed"]) for r in runs}
    lines = [f"Raw runs: `{repo_path(PAIRED)}` (copied-in runs name their source file)."]
    for log in meta.get("invocations", []):
        ran = {tuple(p) for p in log.get("ran", [])}
        planned = [tuple(p) for p in log["planned"]]
        elsewhere = sum(p in done and p not in ran for p in planned)
        missing = sum(p not in done for p in planned)
        lines.append(
            f"- `{log['command']}` at commit `{log['commit'][:10]}`"
            f"{' with uncommitted files' if log.get('uncommitted') else ''}, {machine_spec(log['machine'])}, "
            f"torch {log['torch']}, one torch thread: started {log['started']}, last write "
            f"{log.get('ended', 'none')}; of its {len(planned)} planned runs {len(ran)} done here, "
            f"{elsewhere} by another invocation, {missing} not run."
        )
    lines += [
        f"Copied in (identical recipe): {', '.join(reused) or 'none'}.",
        "Invocations ran side by side on disjoint runs (a run claimed by a live invocation is "
        "skipped). Scheduling does not change a run: the recipe is deterministic for a seed at "
        "one torch thread.",
    ]
    return lines


def render(payload: dict[str, Any], first: dict[str, Any]) -> str:
    runs = payload["runs"]
    out = [PREREGISTRATION.read_text().rstrip(), "", "## Results", ""]
    out += [
        "### The first rule's numbers (unpaired, 2 seeds)",
        "",
        "As the first report computed them (`lime_depth.md`; Delta = mean LIMe-kv - mean vanilla, "
        f"SE from the seed-to-seed sds of each model). At depth {SHALLOW} the baseline is `vanilla` "
        "in both lines; they differ in the depth-32 baseline:",
        "",
        *unpaired_lines(first["runs"]),
        "",
        "The first report's trend line used the first of these, whose depth-32 vanilla misses its own "
        "1% rule; the second is the one the rule asked for.",
        "",
        "### Paired analysis (this pre-registration)",
        "",
    ]
    if not runs:
        return "\n".join([*out, "No run has finished yet.", ""])
    complete = sorted({r["seed"] for r in runs})
    table, stats = paired_table(runs, complete)
    gaps = {d: baseline_at(runs, d)[1] for d in DEPTHS}
    out += [
        *provenance_lines(payload["meta"], runs),
        "",
        "Baselines (within 1% of LIMe-kv, from the stored parameter counts): "
        + "; ".join(f"depth {d}: `{stats['base'][d]}` ({gaps[d]:+.2%})" for d in DEPTHS)
        + ". Validation loss in nats; negative D means LIMe-kv is better.",
        "",
        *table,
        "",
        f"Complete seeds (all four runs): {len(stats['contrasts'])} of the {MIN_SEEDS} "
        "pre-registered.",
        "",
        *verdict_lines(stats),
        "",
    ]
    return "\n".join(out)


def rendered() -> list[Rendered]:
    """``lime_depth_paired.md`` from the committed JSONs (none before the first run is written)."""
    if not PAIRED.is_file():
        return []
    text = render(json.loads(PAIRED.read_text()), json.loads(FIRST.read_text()))
    return [Rendered(PAIRED.with_suffix(".md"), text)]


def main() -> None:
    for file in rendered():
        atomic_write_text(file.path, str(file.content))
        print(f"wrote {repo_path(file.path)}")


if __name__ == "__main__":
    main()

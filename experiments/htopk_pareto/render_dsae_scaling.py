"""The d_sae-scaling block of ``htopk_pareto.md`` (``experiments.htopk_pareto.run_dsae_scaling``).

Reads every ``dsae_scaling/scaling*.json`` (one file per launch), computes per budget k and ratio
r = d_sae / n_features the differences hierarchical - TopK trained at k per seed, applies the
pre-registered decision rule, and renders the block, the plot (PNG) and a CSV of the differences.
Written by ``python -m experiments.htopk_pareto.render``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from experiments.common import png_bytes

HERE = Path(__file__).resolve().parent
RUN_DIR = HERE / "dsae_scaling"
RESULTS = HERE / "htopk_pareto.md"
BEGIN, END = "<!-- dsae-scaling:begin (rendered) -->", "<!-- dsae-scaling:end -->"
PLATEAU_RISE = 0.005  # pre-registered: EV at K may rise at most this over the last 20%


def load_runs(run_dir: Path = RUN_DIR) -> list[dict]:
    runs = []
    for path in sorted(run_dir.glob("scaling*.json")):
        record = json.loads(path.read_text())
        runs += [{**run, "source": path.name} for run in record["runs"]]
    return runs


def differences(runs: list[dict]) -> pd.DataFrame:
    """One row per (ratio, seed, k): EV, FVU and MCC of both methods and their differences."""
    rows = []
    for run in runs:
        table = pd.DataFrame(run["rows"])
        ours = table[table["method"] == "hierarchical_topk"].set_index("budget")
        theirs = table[table["method"] == "topk"].set_index("budget")
        for k in sorted(set(ours.index) & set(theirs.index)):
            ev_h, ev_t = ours.loc[k, "explained_variance"], theirs.loc[k, "explained_variance"]
            rows.append(
                {
                    "ratio": run["d_sae"] / run["n_features"],
                    "d_sae": run["d_sae"],
                    "seed": run["seed"],
                    "k": int(k),
                    "ev_hierarchical": ev_h,
                    "ev_topk": ev_t,
                    "ev_diff": ev_h - ev_t,
                    "fvu_rel_diff": ((1 - ev_h) - (1 - ev_t)) / (1 - ev_t),
                    "mcc_diff": ours.loc[k, "mcc"] - theirs.loc[k, "mcc"],
                    "dead_hierarchical": ours.loc[k, "dead_latents"],
                    "dead_topk": theirs.loc[k, "dead_latents"],
                }
            )
    return pd.DataFrame(rows).sort_values(["k", "ratio", "seed"])


def plateau(runs: list[dict]) -> pd.DataFrame:
    """Per (ratio, seed): EV at K of the hierarchical SAE at the end and its rise over the
    last 20% of steps (the probe's step-0 rows, taken while scaling is estimated, dropped)."""
    rows = []
    for run in runs:
        curve = pd.DataFrame(run["curve"]).drop_duplicates("step", keep="last")
        last = curve["step"].max()
        tail = curve[curve["step"] >= 0.8 * last]
        rows.append(
            {
                "ratio": run["d_sae"] / run["n_features"],
                "seed": run["seed"],
                "ev_at_K_end": float(tail["hierarchical_topk"].iloc[-1]),
                "rise_last_20pct": float(
                    tail["hierarchical_topk"].iloc[-1] - tail["hierarchical_topk"].iloc[0]
                ),
                "train_s": run["train_s"],
            }
        )
    return pd.DataFrame(rows).sort_values(["ratio", "seed"])


def verdict(diffs: pd.DataFrame, big_k: int) -> tuple[dict[int, str], str]:
    """The pre-registered rule: flips / shrinks / persists per k, and the overall answer."""
    per_k = {}
    lo, hi = diffs["ratio"].min(), diffs["ratio"].max()
    for k, rows in diffs.groupby("k"):
        small, large = rows[rows["ratio"] == lo]["ev_diff"], rows[rows["ratio"] == hi]["ev_diff"]
        if lo == hi or len(small) < 2 or len(large) < 2:
            per_k[int(k)] = "incomplete (fewer than 2 seeds at an end ratio)"
            continue
        spread = (small.max() - small.min()) / 2 + (large.max() - large.min()) / 2
        if (large > 0).all() and small.mean() < 0:
            per_k[int(k)] = "flips"
        elif abs(large.mean()) + spread < abs(small.mean()):
            per_k[int(k)] = "shrinks"
        else:
            per_k[int(k)] = "persists"
    ends = [per_k.get(2, "incomplete"), per_k.get(big_k, "incomplete")]
    if any(e.startswith("incomplete") for e in ends):
        answer = "incomplete"
    elif all(e in ("flips", "shrinks") for e in ends):
        answer = "yes"
    elif all(e == "persists" for e in ends):
        answer = "no"
    else:
        answer = "mixed"
    return per_k, answer


def _pivot(diffs: pd.DataFrame, column: str, label: str = "{:g}x") -> str:
    """Markdown table: k rows x ratio columns (headed by ``label``), 'mean (s0 / s1)' per cell."""
    ratios = sorted(diffs["ratio"].unique())
    lines = ["| k | " + " | ".join(label.format(r) for r in ratios) + " |"]
    lines.append("|---" * (len(ratios) + 1) + "|")
    for k, rows in diffs.groupby("k"):
        cells = []
        for r in ratios:
            vals = rows[rows["ratio"] == r].sort_values("seed")[column].tolist()
            mean = sum(vals) / len(vals) if vals else float("nan")
            cells.append(f"{mean:+.4f} ({' / '.join(f'{v:+.4f}' for v in vals)})" if vals else "")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(diffs: pd.DataFrame, runs: list[dict]) -> bytes:
    """EV and MCC differences against d_sae / n_features (one line per k, seeds as points),
    and the EV-at-K training curves of seed 0."""
    panels = [("ev_diff", "EV(hier at k) - EV(TopK at k)"), ("mcc_diff", "MCC difference")]
    fig = Figure(figsize=(16, 4.2))
    axes = fig.subplots(1, 3)
    for col, (column, title) in enumerate(panels):
        for k, rows in diffs.groupby("k"):
            mean = rows.groupby("ratio")[column].mean()
            (line,) = axes[col].plot(mean.index, mean.values, marker="o", label=f"k={k}")
            axes[col].scatter(rows["ratio"], rows[column], s=10, alpha=0.5, color=line.get_color())
        axes[col].axhline(0, color="k", lw=0.8)
        axes[col].set_xscale("log", base=2)
        axes[col].set_xlabel("d_sae / n_features")
        axes[col].set_title(title)
        axes[col].legend(fontsize=8)
    for run in (r for r in runs if r["seed"] == min(x["seed"] for x in runs)):
        curve = pd.DataFrame(run["curve"]).drop_duplicates("step", keep="last")
        for method, style in (("hierarchical_topk", "-"), ("topk", ":")):
            name = f"{method} d_sae={run['d_sae']}"
            axes[2].plot(curve["samples"], curve[method], style, label=name)
    axes[2].set_ylim(0.3, 1.0)
    axes[2].set_xlabel("training samples")
    axes[2].set_title("EV at K, 4,096 held-out samples (seed 0; dotted: TopK at K)", fontsize=9)
    axes[2].legend(fontsize=6)
    fig.tight_layout()
    return png_bytes(fig, dpi=110)


def render(runs: list[dict]) -> str:
    diffs = differences(runs)
    big_k = int(diffs["k"].max())
    per_k, answer = verdict(diffs, big_k)
    flat = plateau(runs)
    n_runs, seeds = len(runs), sorted({r["seed"] for r in runs})
    not_flat = flat[flat["rise_last_20pct"] > PLATEAU_RISE]
    lines = [
        BEGIN,
        f"Runs: {n_runs} (seeds {seeds}, ratios "
        f"{', '.join(f'{r:g}x' for r in sorted(diffs['ratio'].unique()))}); training "
        f"{sum(r['train_s'] for r in runs) / 60:.1f} min in all.",
        "",
        "**EV(hierarchical at k) - EV(TopK trained at k)**, mean over seeds (seed 0 / seed 1):",
        "",
        _pivot(diffs, "ev_diff"),
        "",
        "**Relative FVU difference** (FVU_hier - FVU_TopK) / FVU_TopK (positive: hierarchical worse):",
        "",
        _pivot(diffs, "fvu_rel_diff"),
        "",
        "**MCC(hierarchical) - MCC(TopK trained at k)** (no decision attached):",
        "",
        _pivot(diffs, "mcc_diff"),
        "",
        f"**Plateau** (hierarchical EV at K; rise over the last 20% of steps, bar {PLATEAU_RISE}):",
        "",
        "| ratio | seed | EV at K, end | rise, last 20% |",
        "|---|---|---|---|",
        *(
            f"| {r.ratio:g}x | {r.seed} | {r.ev_at_K_end:.4f} | {r.rise_last_20pct:+.4f} |"
            for r in flat.itertuples()
        ),
        "",
        "Plot: `experiments/htopk_pareto/dsae_scaling/dsae_scaling.png`; per-row numbers "
        "in `dsae_scaling.csv`.",
        "",
        "**Decision rule, per k:** "
        + "; ".join(f"k={k}: {v}" for k, v in sorted(per_k.items()))
        + f". **Answer to the question: {answer}**"
        + (
            f" (caveat: {len(not_flat)} of {len(flat)} runs had not plateaued by the rule's bar)."
            if len(not_flat)
            else "."
        ),
        END,
    ]
    return "\n".join(lines)

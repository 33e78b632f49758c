"""The adaptive-budget block of ``htopk_pareto.md`` (``compare --scale adaptive``).

Reads ``experiments/htopk_pareto/default_adaptive/comparison.json`` (the seed-0 run's table and config)
and ``run.json`` (command, wall time), and renders the block between the markers: per target
mean L0 k, the adaptive rules against fixed-k hierarchical, TopK trained at k and BatchTopK
trained at k on the same held-out tokens (EV, CE-loss score, measured L0, per-token budget
spread), and the uncapped JumpReLU export of the threshold rule. Further seeds
(``default_adaptive_seed<N>/comparison.json``, the same command with ``--seed N``) add a table of
the EV differences per seed.

Written by ``python -m experiments.htopk_pareto.render``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

RUN_DIR = Path(__file__).resolve().parent / "default_adaptive"
BEGIN, END = "<!-- adaptive:begin (rendered) -->", "<!-- adaptive:end -->"
ORDER = [
    "hierarchical_topk",
    "adaptive_threshold",
    "adaptive_error",
    "adaptive_marginal",
    "topk",
    "batchtopk",
]


def _fmt(value: object, spec: str) -> str:
    return "" if value is None or pd.isna(value) else format(value, spec)


def comparison_table(table: pd.DataFrame) -> str:
    lines = [
        "| k | method | L0 | EV | EV - fixed-k hier. | CE-loss score | k(x) p10 / p50 / p90 | share at K |",
        "|---|---|---|---|---|---|---|---|",
    ]
    fixed = table[table["method"] == "hierarchical_topk"].set_index("budget")["explained_variance"]
    for k in sorted(table["budget"].unique()):
        for method in ORDER:
            rows = table[(table["method"] == method) & (table["budget"] == k)]
            for row in rows.itertuples():
                spread = (
                    f"{row.k_p10:g} / {row.k_p50:g} / {row.k_p90:g}"
                    if "k_p10" in table and not pd.isna(row.k_p10)
                    else ""
                )
                diff = row.explained_variance - fixed.get(k, float("nan"))
                lines.append(
                    f"| {k} | {method} | {row.l0:.2f} | {row.explained_variance:.4f} | "
                    f"{_fmt(diff if method != 'hierarchical_topk' else None, '+.4f')} | "
                    f"{_fmt(row.ce_loss_score, '.4f')} | {spread} | "
                    f"{_fmt(getattr(row, 'share_kK', None), '.3f')} |"
                )
    return "\n".join(lines)


def export_table(table: pd.DataFrame) -> str:
    rows = table[table["method"] == "adaptive_threshold"]
    lines = [
        "| target mean L0 | share of tokens over K | L0 capped / uncapped | EV capped / uncapped |",
        "|---|---|---|---|",
    ]
    for row in rows.itertuples():
        lines.append(
            f"| {row.budget} | {row.jumprelu_share_over_k:.4f} | "
            f"{row.capped_l0:.2f} / {row.jumprelu_l0:.2f} | "
            f"{row.capped_explained_variance:.4f} / {row.jumprelu_explained_variance:.4f} |"
        )
    return "\n".join(lines)


def verdict(table: pd.DataFrame) -> str:
    fixed = table[table["method"] == "hierarchical_topk"].set_index("budget")["explained_variance"]
    topk = table[table["method"] == "topk"].set_index("budget")["explained_variance"]
    parts = []
    for method in ORDER[1:4]:
        rows = table[table["method"] == method].set_index("budget")["explained_variance"]
        wins = [int(k) for k in rows.index if round(rows[k] - fixed[k], 4) > 0]
        beats = [int(k) for k in rows.index if round(rows[k] - topk.get(k, 1.0), 4) > 0]
        parts.append(
            f"{method} above fixed-k hierarchical at k = {wins or 'none'}, "
            f"above TopK trained at k at k = {beats or 'none'}"
        )
    return "; ".join(parts)


def seed_tables(run_dir: Path = RUN_DIR) -> dict[int, pd.DataFrame]:
    """Seed -> the comparison table of that seed's run (seed 0 in ``run_dir``)."""
    folders = [run_dir, *sorted(run_dir.parent.glob(f"{run_dir.name}_seed*"))]
    tables = {}
    for folder in folders:
        record = json.loads((folder / "comparison.json").read_text())
        tables[record["config"]["baselines"]["seed"]] = pd.DataFrame(record["rows"])
    return tables


def seeds_table(tables: dict[int, pd.DataFrame]) -> str:
    """Per target mean L0 below K and adaptive rule: EV minus fixed-k hierarchical and minus TopK
    trained at k, and the measured L0, in every seed."""
    seeds = sorted(tables)
    per_seed = " / ".join(f"seed {s}" for s in seeds)
    lines = [
        f"| k | rule | EV - fixed-k hier. ({per_seed}) | EV - TopK at k ({per_seed}) | L0 ({per_seed}) |",
        "|---|---|---|---|---|",
    ]
    ev = {
        s: t.pivot_table(index="budget", columns="method", values="explained_variance")
        for s, t in tables.items()
    }
    l0 = {
        s: t.pivot_table(index="budget", columns="method", values="l0") for s, t in tables.items()
    }
    K = max(int(t["budget"].max()) for t in tables.values())
    for k in sorted(ev[seeds[0]].index):
        if k == K:
            continue  # at k = K every rule keeps all K latents: equal to fixed K by construction
        for method in ORDER[1:4]:
            hier = " / ".join(
                f"{ev[s].at[k, method] - ev[s].at[k, 'hierarchical_topk']:+.4f}" for s in seeds
            )
            topk = " / ".join(f"{ev[s].at[k, method] - ev[s].at[k, 'topk']:+.4f}" for s in seeds)
            l0s = " / ".join(f"{l0[s].at[k, method]:.2f}" for s in seeds)
            lines.append(f"| {k} | {method} | {hier} | {topk} | {l0s} |")
    return "\n".join(lines)


def render(run_dir: Path = RUN_DIR) -> str:
    record = json.loads((run_dir / "comparison.json").read_text())
    run = json.loads((run_dir / "run.json").read_text())
    table = pd.DataFrame(record["rows"])
    batchtopk = table[table["method"] == "batchtopk"].sort_values("budget")
    l0_vs_k = ", ".join(f"k={r.budget}: {r.l0:.2f}" for r in batchtopk.itertuples())
    return "\n".join(
        [
            BEGIN,
            f"Command: `{run['command']}`; wall {run['wall_s'] / 60:.1f} min. Seed 0.",
            "",
            comparison_table(table),
            "",
            f"BatchTopK's held-out L0 against its k (threshold converged if close): {l0_vs_k}.",
            "",
            "Threshold rule exported as a stock JumpReLU SAE (no cap) against the capped rule, "
            "on the activations of the evaluated rows (BOS dropped):",
            "",
            export_table(table),
            "",
            f"**Measured EV, seed 0, differences rounded to 4 decimals:** {verdict(table)}.",
            "",
            *_seed_section(run_dir),
            END,
        ]
    )


def _seed_section(run_dir: Path) -> list[str]:
    tables = seed_tables(run_dir)
    if len(tables) < 2:
        return ["One seed."]
    runs = [
        json.loads((folder / "run.json").read_text())
        for folder in sorted(run_dir.parent.glob(f"{run_dir.name}_seed*"))
    ]
    commands = "; ".join(f"`{r['command']}`, wall {r['wall_s'] / 60:.1f} min" for r in runs)
    seeds = ", ".join(str(s) for s in sorted(tables))
    return [
        f"Seeds {seeds} ({commands}): the same activations and held-out rows, each SAE "
        "initialised from its seed.",
        "",
        seeds_table(tables),
    ]

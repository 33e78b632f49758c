"""Pareto frontiers of a budget comparison: a metric against measured L0, one line per method.

The paper's headline figure (Balagansky et al. 2025, Fig. 3) is explained variance against L0
with one curve per method; we add CE-loss score (the SAE spliced into the model) next to it.
Saved as a static PNG (matplotlib) and an interactive HTML (plotly) that loads ``plotly.min.js``
from its own folder (written there once, shared by every HTML in it; offline). The PNG is drawn on a
``matplotlib.figure.Figure`` of its own, not through pyplot, so no backend is chosen or needed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter
from plotly.subplots import make_subplots

from saelens_hierarchical.atomic_write import atomic_path

LABELS = {
    "explained_variance": "explained variance",
    "ce_loss_score": "CE-loss score (SAE spliced in)",
    "mcc": "MCC vs ground truth",
    "f1": "F1 vs ground truth",
    "l0": "L0 (log scale)",
}

# Fixed colours and markers per method, so every plot in the project reads the same way.
STYLE = {
    "hierarchical_topk": ("#d62728", "o"),
    "topk": ("#1f77b4", "s"),
    "batchtopk": ("#2ca02c", "^"),
    "matryoshka_batchtopk": ("#9467bd", "D"),
    "multi_topk": ("#ff7f0e", "v"),
    # the hierarchical SAE with adaptive per-token budgets: its colour, other markers
    "adaptive_threshold": ("#e377c2", "P"),
    "adaptive_error": ("#8c564b", "X"),
    "adaptive_marginal": ("#17becf", "*"),
}


def frontier_lines(table: pd.DataFrame, metric: str) -> dict[str, pd.DataFrame]:
    """Method -> its (l0, metric, budget) points sorted by L0, NaN rows dropped."""
    lines = {}
    for method, rows in table.groupby("method", sort=False):
        pts = rows[["l0", metric, "budget"]].dropna(subset=["l0", metric]).sort_values("l0")
        if len(pts):
            lines[str(method)] = pts
    return lines


def plot_frontier(
    table: pd.DataFrame,
    out_dir: str | Path,
    metrics: tuple[str, ...] = ("explained_variance", "ce_loss_score"),
    title: str = "HierarchicalTopK vs peers",
    stem: str = "frontier",
) -> dict[str, Path]:
    """Write ``<stem>.png`` and ``<stem>.html``: one panel per metric that has any values."""
    metrics = tuple(m for m in metrics if m in table and table[m].notna().any())
    if not metrics:
        raise ValueError(f"table has none of the metrics to plot: {metrics}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png, html = out / f"{stem}.png", out / f"{stem}.html"
    with atomic_path(png) as tmp:
        matplotlib_figure(table, metrics, title).savefig(tmp, dpi=120)
    with atomic_path(html) as tmp:
        # "directory": a <script src="plotly.min.js"> and one copy of the bundle beside the HTML,
        # instead of the 4.7 MB bundle inside every page ("cdn" would need the network)
        plotly_figure(table, metrics, title).write_html(tmp, include_plotlyjs="directory")
    return {"png": png, "html": html}


def matplotlib_figure(table: pd.DataFrame, metrics: tuple[str, ...], title: str) -> Figure:
    """Static figure: one axis per metric, log-scale L0."""
    fig = Figure(figsize=(5.2 * len(metrics), 4.2))
    axes = fig.subplots(1, len(metrics), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for method, pts in frontier_lines(table, metric).items():
            color, marker = STYLE.get(method, ("#7f7f7f", "x"))
            ax.plot(pts["l0"], pts[metric], marker=marker, color=color, label=method, lw=1.5)
        ax.set_xscale("log", base=2)  # budgets are powers of two: label them plainly
        ax.xaxis.set_major_locator(LogLocator(base=2))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(LABELS["l0"])
        ax.set_ylabel(LABELS.get(metric, metric))
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plotly_figure(table: pd.DataFrame, metrics: tuple[str, ...], title: str) -> go.Figure:
    """Interactive figure: hover shows the budget k of each point."""
    fig = make_subplots(
        rows=1, cols=len(metrics), subplot_titles=[LABELS.get(m, m) for m in metrics]
    )
    for col, metric in enumerate(metrics, start=1):
        for method, pts in frontier_lines(table, metric).items():
            color, _ = STYLE.get(method, ("#7f7f7f", "x"))
            fig.add_trace(
                go.Scatter(
                    x=pts["l0"],
                    y=pts[metric],
                    mode="lines+markers",
                    name=method,
                    legendgroup=method,
                    showlegend=col == 1,
                    line={"color": color},
                    customdata=pts["budget"],
                    hovertemplate="k=%{customdata}<br>L0=%{x:.2f}<br>%{y:.4f}",
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(type="log", title_text=LABELS["l0"], row=1, col=col)
    fig.update_layout(title=title, width=520 * len(metrics), height=440)
    return fig

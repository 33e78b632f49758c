"""Matplotlib figures for the analysis tables: one function per figure, each returns the Figure.

Each is a ``matplotlib.figure.Figure`` of its own, not a pyplot figure: no backend is chosen and
nothing is left in pyplot's state (in a notebook, show one with ``display(fig)``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lime_lens.analysis.routing import RoutingHeatmaps

_STATE_TITLES = {
    "values_pre": "values, pre-routing (own W_V output)",
    "values_post": "values, post-routing (what attention reads)",
    "resid": "residual stream (resid_post)",
}


def _per_layer_panels(
    results: dict[str, pd.DataFrame], mean_col: str, std_col: str, ylabel: str
) -> tuple[Figure, list[Axes]]:
    """One panel per ``states`` kind found in the tables, one line (+-std band) per model."""
    kinds = list(dict.fromkeys(k for t in results.values() for k in t["states"]))
    fig = Figure(figsize=(4.5 * len(kinds), 3.6))
    axes = fig.subplots(1, len(kinds), squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=True):
        for name, table in results.items():
            rows = table[table["states"] == kind].sort_values("layer")
            if rows.empty:
                continue
            ax.plot(rows["layer"], rows[mean_col], marker="o", label=name)
            ax.fill_between(
                rows["layer"],
                rows[mean_col] - rows[std_col],
                rows[mean_col] + rows[std_col],
                alpha=0.2,
            )
        ax.set_title(_STATE_TITLES.get(kind, kind), fontsize=10)
        ax.set_xlabel("layer")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig, list(axes[0])


def plot_entropy_per_layer(results: dict[str, pd.DataFrame]) -> Figure:
    """Matrix Renyi entropy per layer, models side by side (tables from ``entropy_per_layer``)."""
    fig, _ = _per_layer_panels(results, "entropy_mean", "entropy_std", "matrix Renyi entropy")
    return fig


def plot_probe_accuracy(results: dict[str, pd.DataFrame]) -> Figure:
    """Probe accuracy per layer with the chance level (tables from ``token_separability``)."""
    fig, axes = _per_layer_panels(results, "accuracy_mean", "accuracy_std", "5-fold probe accuracy")
    chance = next(iter(results.values()))["chance"].iloc[0]
    for ax in axes:
        ax.axhline(chance, color="gray", linestyle="--", linewidth=1)
        ax.set_ylim(0, 1.02)
    return fig


def plot_routing_heatmap(
    maps: RoutingHeatmaps,
    title: str = "routing mass per source",
    source_label: str = "source layer",
) -> Figure:
    """Paper Fig. 5: M[target layer, source] (rows sum to 1; blank above the diagonal)."""
    fig = Figure(figsize=(4.2, 3.6))
    ax = fig.subplots()
    data = np.ma.masked_invalid(maps.per_layer.numpy())
    im = ax.imshow(data, cmap="viridis", vmin=0, vmax=1)
    ax.set_xlabel(source_label)
    ax.set_ylabel("target layer")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return fig


def plot_routing_per_head(maps: RoutingHeatmaps, source_label: str = "source layer") -> Figure:
    """Paper Fig. 9: for each target layer, H[layer, head, source] as a heads x sources image."""
    layers = list(range(1, maps.per_head.shape[0]))
    fig = Figure(figsize=(2.2 * len(layers) + 1, 3.0), layout="constrained")
    axes = fig.subplots(1, len(layers), squeeze=False)
    for ax, layer in zip(axes[0], layers, strict=True):
        im = ax.imshow(
            maps.per_head[layer, :, : layer + 1].numpy(),
            cmap="viridis",
            vmin=0,
            vmax=1,
            aspect="auto",
        )
        ax.set_title(f"layer {layer}", fontsize=9)
        ax.set_xlabel(source_label, fontsize=8)
        ax.set_xticks(range(layer + 1))
        ax.set_yticks(range(maps.per_head.shape[1]))
    axes[0][0].set_ylabel("target KV head")
    fig.colorbar(im, ax=list(axes[0]))
    return fig


def plot_route_ablation(table: pd.DataFrame, top: int = 15) -> Figure:
    """The ``top`` routes by ablation effect (from ``route_ablation_table``) as horizontal bars."""
    rows = table.head(top).iloc[::-1]
    labels = [
        f"L{r.layer} h{r.head} <- src {r.source}"
        + ("" if pd.isna(r.source_head) else f" h'{int(r.source_head)}")
        for r in rows.itertuples()
    ]
    fig = Figure(figsize=(5.5, 0.28 * len(rows) + 1.2))
    ax = fig.subplots()
    ax.barh(labels, rows["delta_loss"])
    ax.set_xlabel("loss increase when the route is zeroed (nats/token)")
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    return fig


def plot_budget_sweep(table: pd.DataFrame) -> Figure:
    """Explained variance and CE-loss score of one SAE across budgets k (from ``sweep_route_sae``)."""
    fig = Figure(figsize=(8, 3.2))
    axes = fig.subplots(1, 2)
    for ax, col in zip(axes, ["explained_variance", "ce_loss_score"], strict=True):
        ax.plot(table["budget"], table[col], marker="o")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("budget k")
        ax.set_ylabel(col)
    fig.tight_layout()
    return fig


def plot_kv_decomposition(contributions: torch.Tensor, title: str = "") -> Figure:
    """Mean L2 norm of each source's contribution to one head's K/V input (``decompose_kv_input``)."""
    parts = (
        contributions.sum(3) if contributions.ndim == 5 else contributions
    )  # kv: sum source heads
    per_source = parts.norm(dim=-1).flatten(0, 1).mean(0)  # [n_src]
    fig = Figure(figsize=(4, 3))
    ax = fig.subplots()
    ax.bar(range(len(per_source)), per_source.numpy())
    ax.set_xlabel("source")
    ax.set_ylabel("mean ||contribution||")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig

"""Frontier plots: one line per method per panel, sorted by L0, log-scale L0, PNG + HTML on disk."""

import math

import pandas as pd
import pytest

from saelens_hierarchical.study.frontier import (
    frontier_lines,
    matplotlib_figure,
    plot_frontier,
    plotly_figure,
)


def _table() -> pd.DataFrame:
    rows = [
        ("hierarchical_topk", k, l0, ev, ce)
        for k, l0, ev, ce in [(1, 1.0, 0.3, 0.5), (4, 3.9, 0.6, 0.8), (2, 2.0, 0.45, 0.7)]
    ]
    rows += [("topk", k, float(k), 0.2 + 0.1 * k, 0.6) for k in (4, 1, 2)]
    rows += [("batchtopk", 2, 2.3, 0.5, math.nan)]
    return pd.DataFrame(
        rows, columns=["method", "budget", "l0", "explained_variance", "ce_loss_score"]
    )


def test_frontier_lines_are_sorted_by_l0_and_skip_missing_values():
    lines = frontier_lines(_table(), "ce_loss_score")
    assert set(lines) == {"hierarchical_topk", "topk"}  # batchtopk has no CE value
    assert list(lines["hierarchical_topk"]["budget"]) == [1, 2, 4]
    assert list(lines["topk"]["l0"]) == [1.0, 2.0, 4.0]


def test_plotly_figure_has_one_log_x_trace_per_method_and_panel():
    fig = plotly_figure(_table(), ("explained_variance", "ce_loss_score"), "t")
    names = [(t.name, t.xaxis) for t in fig.data]
    assert names == [
        ("hierarchical_topk", "x"),
        ("topk", "x"),
        ("batchtopk", "x"),
        ("hierarchical_topk", "x2"),
        ("topk", "x2"),
    ]
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis2.type == "log"
    assert list(fig.data[0].y) == [0.3, 0.45, 0.6]


def test_matplotlib_figure_has_log_l0_axes_with_a_line_per_method():
    fig = matplotlib_figure(_table(), ("explained_variance", "ce_loss_score"), "t")
    ev_ax, ce_ax = fig.axes
    assert ev_ax.get_xscale() == "log" and len(ev_ax.lines) == 3 and len(ce_ax.lines) == 2
    assert list(ev_ax.lines[1].get_ydata()) == pytest.approx([0.3, 0.4, 0.6])


def test_plot_frontier_writes_png_and_html_and_skips_empty_metrics(tmp_path):
    paths = plot_frontier(_table(), tmp_path, metrics=("explained_variance", "mcc"))
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "plotly" in paths["html"].read_text()[:20000].lower()
    # the bundle is loaded from one shared file beside the page, not embedded in it
    assert 'src="plotly.min.js"' in paths["html"].read_text()
    assert (paths["html"].parent / "plotly.min.js").stat().st_size > paths["html"].stat().st_size
    with pytest.raises(ValueError, match="metrics"):
        plot_frontier(_table(), tmp_path, metrics=("mcc",))

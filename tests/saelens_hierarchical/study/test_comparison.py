"""The one-call comparison: budget differences, and an end-to-end run on a tiny random model."""

import math

import pandas as pd
import pytest
import torch
from comparison_helpers import tiny_model, token_dataset

from saelens_hierarchical.study.baselines import BaselineConfig
from saelens_hierarchical.study.comparison import (
    ComparisonConfig,
    budget_differences,
    run_comparison,
)
from saelens_hierarchical.sweep import SweepConfig


def test_budget_differences_subtract_the_topk_sae_trained_at_each_budget():
    table = pd.DataFrame(
        {
            "method": ["hierarchical_topk"] * 3 + ["topk"] * 2 + ["batchtopk"],
            "budget": [1, 2, 4, 4, 1, 1],
            "explained_variance": [0.5, 0.6, 0.9, 0.8, 0.55, 0.7],
        }
    )
    diffs = budget_differences(table)
    assert list(diffs["budget"]) == [1, 4]  # k=2 has no TopK trained at 2
    torch.testing.assert_close(list(diffs["difference"]), [0.5 - 0.55, 0.9 - 0.8])


def test_run_comparison_end_to_end_on_tiny_model(tmp_path):
    cfg = ComparisonConfig(
        baselines=BaselineConfig(
            d_sae=32, K=4, budgets=[1, 2, 4], training_tokens=1024, train_batch_size_tokens=128
        ),
        sweep=SweepConfig(n_batches=1, batch_size_prompts=4, context_size=16),
        context_size=16,
    )
    out = run_comparison(tiny_model(), token_dataset(64), token_dataset(16, seed=1), cfg, tmp_path)
    table = out.table
    hier = table[table["method"] == "hierarchical_topk"]
    assert list(hier["budget"]) == [1, 2, 4] and (hier["trained_k"] == 4).all()
    assert (hier["l0"] <= hier["budget"] + 1e-9).all()
    for method in ("topk", "batchtopk", "matryoshka_batchtopk"):
        rows = table[table["method"] == method]
        assert sorted(rows["trained_k"]) == [1, 2, 4], method
    topk = table[table["method"] == "topk"]
    assert (topk["budget"] == topk["trained_k"]).all()
    diffs = out.differences
    expected = (
        hier.set_index("budget")["explained_variance"]
        - topk.set_index("budget")["explained_variance"]
    )
    torch.testing.assert_close(list(diffs["difference"]), [float(expected[k]) for k in (1, 2, 4)])
    assert not any(math.isnan(v) for v in table["ce_loss_score"])
    for key in ("table_csv", "table_json", "differences_csv", "plot_png", "plot_html"):
        assert getattr(out, key).exists(), key
    assert pd.read_csv(out.table_csv).shape == table.shape


def test_comparison_config_rejects_mismatched_context_sizes():
    with pytest.raises(ValueError, match="context_size"):
        ComparisonConfig(baselines=BaselineConfig(d_sae=32, K=4, budgets=[4]), context_size=64)

"""Adaptive budgets in the comparison: the same evaluation rows, calibration on other rows."""

import pytest
import torch
from comparison_helpers import HOOK, tiny_model, token_dataset
from htopk_helpers import make_sae

from saelens_hierarchical.adaptive import ThresholdRule, adaptive_encode
from saelens_hierarchical.budget import at_budget
from saelens_hierarchical.study import adaptive_budgets
from saelens_hierarchical.study.adaptive_budgets import (
    ADAPTIVE_RULES,
    adaptive_view,
    split_rows,
    sweep_adaptive,
)
from saelens_hierarchical.study.baselines import BaselineConfig
from saelens_hierarchical.study.comparison import ComparisonConfig, run_comparison
from saelens_hierarchical.sweep import SweepConfig, evaluate

SWEEP = SweepConfig(n_batches=1, batch_size_prompts=4, context_size=16)


def _sae():
    sae = make_sae(d_in=16, d_sae=32, k=4)
    sae.cfg.metadata.hook_name = HOOK
    return sae


def test_adaptive_view_with_a_keep_everything_threshold_evaluates_as_fixed_K():
    """run_evals through the view equals run_evals of the SAE at its trained K."""
    sae, model, rows = _sae(), tiny_model(), token_dataset(8, seed=1)
    with adaptive_view(sae, ThresholdRule(0.0)):
        ours = evaluate(sae, model, rows, SWEEP)
    assert "encode" not in vars(sae)  # the override is gone after the block
    with at_budget(sae, 4):
        fixed = evaluate(sae, model, rows, SWEEP)
    for key in ("explained_variance", "ce_loss_score", "l0"):
        torch.testing.assert_close(ours[key], fixed[key], msg=key)


def test_adaptive_view_encodes_any_leading_dims_like_the_flat_api():
    sae = _sae()
    x = torch.randn(3, 5, 16)
    rule = ThresholdRule(0.2)
    with adaptive_view(sae, rule):
        acts = sae.encode(x)
    flat = adaptive_encode(sae, x.reshape(-1, 16), rule).feature_acts
    torch.testing.assert_close(acts.reshape(-1, 32), flat)


def test_sweep_adaptive_hits_each_target_on_held_out_rows_and_reports_budgets():
    sae, model = _sae(), tiny_model()
    table = sweep_adaptive(sae, model, token_dataset(12, seed=1), [1, 2, 3], SWEEP)  # type: ignore[arg-type]
    assert sorted(set(table["method"])) == sorted(ADAPTIVE_RULES)
    # calibrated on 4 rows no metric reads (60 tokens): held-out mean L0 within 0.75 of the target
    assert ((table["l0"] - table["budget"]).abs() <= 0.75).all(), table[["method", "budget", "l0"]]
    assert (table["k_max"] <= 4).all()
    threshold = table[table["method"] == "adaptive_threshold"]
    # the uncapped export fires a superset of the capped rule's latents on the same tokens
    assert (threshold["jumprelu_l0"] >= threshold["capped_l0"]).all()


def test_sweep_adaptive_refuses_a_dataset_without_calibration_rows():
    with pytest.raises(ValueError, match="dataset has 11 rows; adaptive sweeps need 3 x 4"):
        sweep_adaptive(_sae(), tiny_model(), token_dataset(11), [2], SWEEP)  # type: ignore[arg-type]


def _row_set(rows) -> set[tuple[int, ...]]:
    return {tuple(torch.as_tensor(r).tolist()) for r in rows["tokens"]}


def test_calibration_rows_are_never_in_the_rows_run_evals_is_given(monkeypatch):
    """Every dataset ``evaluate`` receives lacks every calibration row, so no read order of the
    store (in order, shuffled, wrapping around) can score a row the rule was calibrated on."""
    seen: dict[str, list[set[tuple[int, ...]]]] = {"evaluated": [], "activations": []}
    real_evaluate, real_hook = adaptive_budgets.evaluate, adaptive_budgets.hook_activations

    def spy_evaluate(sae, model, rows, cfg):
        seen["evaluated"].append(_row_set(rows))
        return real_evaluate(sae, model, rows, cfg)

    def spy_hook(model, rows, hook, context_size):
        seen["activations"].append(_row_set(rows))
        return real_hook(model, rows, hook, context_size)

    monkeypatch.setattr(adaptive_budgets, "evaluate", spy_evaluate)
    monkeypatch.setattr(adaptive_budgets, "hook_activations", spy_hook)
    dataset = token_dataset(16, seed=3)  # 12 rows used: 8 evaluated, 4 calibration, 4 unused
    split = split_rows(dataset, SWEEP)
    calibration = _row_set(split.calibration)
    assert len(calibration) == 4 and len(_row_set(dataset)) == 16  # distinct rows
    sweep_adaptive(_sae(), tiny_model(), dataset, [2], SWEEP)  # type: ignore[arg-type]
    assert len(seen["evaluated"]) == len(ADAPTIVE_RULES)
    assert all(rows.isdisjoint(calibration) for rows in seen["evaluated"])
    assert all(rows == _row_set(split.evaluation) for rows in seen["evaluated"])
    assert calibration in seen["activations"]  # the rule saw exactly the calibration rows


def test_adaptive_targets_outside_1_to_K_are_refused_naming_the_field():
    with pytest.raises(ValueError, match=r"adaptive_targets must lie in 1..K=4"):
        ComparisonConfig(
            baselines=BaselineConfig(d_sae=32, K=4, budgets=[2, 4]),
            sweep=SWEEP,
            context_size=16,
            adaptive_targets=[2, 5],
        )


def test_comparison_with_adaptive_targets_adds_rows_for_every_rule(tmp_path):
    cfg = ComparisonConfig(
        baselines=BaselineConfig(
            d_sae=32,
            K=4,
            budgets=[2, 4],
            methods=("hierarchical_topk", "topk"),
            training_tokens=1024,
            train_batch_size_tokens=128,
        ),
        sweep=SWEEP,
        context_size=16,
        adaptive_targets=[2],
    )
    out = run_comparison(tiny_model(), token_dataset(64), token_dataset(16, seed=1), cfg, tmp_path)
    adaptive = out.table[out.table["method"].isin(list(ADAPTIVE_RULES))]
    assert sorted(adaptive["method"]) == sorted(ADAPTIVE_RULES)
    assert (adaptive["budget"] == 2).all()

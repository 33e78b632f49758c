"""Adaptive per-token budgets: limits, prefix property, calibration, refusals."""

from __future__ import annotations

import math

import pytest
import torch
from htopk_helpers import make_sae
from sae_lens import SAE

from saelens_hierarchical.adaptive import (
    ErrorRule,
    MarginalRule,
    ThresholdRule,
    adaptive_encode,
    calibrate,
    sorted_code,
)
from saelens_hierarchical.budget import at_budget

K = 6
RULES = (ThresholdRule, ErrorRule, MarginalRule)


def _inference_sae(tmp_path):
    sae = make_sae(d_in=12, d_sae=40, k=K)
    sae.save_inference_model(tmp_path)
    return SAE.load_from_disk(tmp_path)


def _tokens(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, 12, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("stock", [False, True], ids=["training_sae", "saved_topk_sae"])
def test_threshold_that_keeps_every_latent_gives_the_fixed_K_reconstruction(tmp_path, stock):
    sae = _inference_sae(tmp_path) if stock else make_sae(d_in=12, d_sae=40, k=K)
    x = _tokens(64, 0)
    out = adaptive_encode(sae, x, ThresholdRule(0.0))
    with torch.no_grad():
        fixed = sae.decode(sae.encode(x))
    torch.testing.assert_close(out.sae_out, fixed)
    assert out.k.tolist() == [K] * 64


@pytest.mark.parametrize("rule", [ThresholdRule(0.3), ErrorRule(0.9), MarginalRule(0.5)])
def test_each_token_gets_the_fixed_budget_reconstruction_of_its_own_k(tmp_path, rule):
    sae = _inference_sae(tmp_path)
    x = _tokens(200, 1)
    out = adaptive_encode(sae, x, rule)
    assert 0 < len(out.k.unique()) and out.k.max() <= K
    for j in out.k.unique().tolist():
        rows = out.k == j
        if j == 0:
            expected = sae.b_dec.expand(int(rows.sum()), -1)
        else:
            with torch.no_grad(), at_budget(sae, j):
                expected = sae.decode(sae.encode(x[rows]))
        torch.testing.assert_close(out.sae_out[rows], expected, rtol=1e-5, atol=1e-6)


def test_error_rule_picks_the_shortest_prefix_under_eps():
    sae = make_sae(d_in=12, d_sae=40, k=K)
    x = _tokens(300, 2)
    eps = 0.9
    out = adaptive_encode(sae, x, ErrorRule(eps))
    code = sorted_code(sae, x)
    assert code.prefix_errors is not None
    errors = (x - out.sae_out).pow(2).sum(-1)
    torch.testing.assert_close(errors, code.prefix_errors.gather(-1, out.k[:, None])[:, 0])
    bar = eps**2 * x.pow(2).sum(-1)
    reached = out.k < K
    assert bool((errors[reached] <= bar[reached]).all())
    shorter = code.prefix_errors.gather(-1, (out.k - 1).clamp(min=0)[:, None])[:, 0]
    assert bool((shorter[out.k > 0] > bar[out.k > 0]).all())


def test_marginal_rule_keeps_up_to_the_last_step_gaining_delta():
    sae = make_sae(d_in=12, d_sae=40, k=K)
    x = _tokens(300, 3)
    code = sorted_code(sae, x)
    assert code.prefix_errors is not None
    gains = code.prefix_errors[:, :-1] - code.prefix_errors[:, 1:]
    k = MarginalRule(0.4).budgets(code)
    for row in range(300):
        kept = [j + 1 for j in range(K) if gains[row, j] >= 0.4]
        assert int(k[row]) == (max(kept) if kept else 0)


@pytest.mark.parametrize("rule_type", RULES)
@pytest.mark.parametrize("target", [1.5, 3.0, 5.0])
def test_calibration_hits_the_target_mean_l0_within_0_15_on_held_out_tokens(rule_type, target):
    """Exact up to 1/N on the calibration tokens (k changes by 1 on one token at a time);
    held-out tolerance 0.15 latents for 8,000 tokens (k's std is ~1.5-2.5: about 5 SE)."""
    sae = make_sae(d_in=12, d_sae=40, k=K)
    rule = calibrate(sae, _tokens(8000, 4), target, rule_type)
    on_calibration = adaptive_encode(sae, _tokens(8000, 4), rule).k.float().mean()
    held_out = adaptive_encode(sae, _tokens(8000, 5), rule).k.float().mean()
    assert abs(float(on_calibration) - target) <= 2 / 8000
    assert abs(float(held_out) - target) <= 0.15


@pytest.mark.parametrize(
    "rule, name",
    [
        (ThresholdRule(-0.1), "threshold"),
        (ThresholdRule(math.nan), "threshold"),
        (ErrorRule(0.0), "eps"),
        (ErrorRule(math.inf), "eps"),
        (MarginalRule(math.nan), "delta"),
    ],
)
def test_rule_parameter_outside_its_range_raises_naming_it(rule, name):
    sae = make_sae(d_in=12, d_sae=40, k=K)
    with pytest.raises(ValueError, match=rf"{name} must be a finite number in"):
        adaptive_encode(sae, _tokens(4, 0), rule)


@pytest.mark.parametrize("target", [0, 0.5, K + 1, math.nan])
def test_target_mean_l0_outside_1_to_K_raises_naming_it(target):
    sae = make_sae(d_in=12, d_sae=40, k=K)
    with pytest.raises(ValueError, match=rf"target_l0 must be a number in 1..K={K}"):
        calibrate(sae, _tokens(16, 0), target)


def test_activations_of_the_wrong_width_raise_naming_d_in():
    sae = make_sae(d_in=12, d_sae=40, k=K)
    with pytest.raises(ValueError, match=r"activations must have shape \[batch, d_in=12\]"):
        calibrate(sae, torch.randn(16, 11), 2.0)
    with pytest.raises(ValueError, match=r"activations must have shape \[batch, d_in=12\]"):
        adaptive_encode(sae, torch.randn(16, 13), ThresholdRule(0.1))

"""The threshold rule exported as a stock SAELens JumpReLU SAE."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch
from comparison_helpers import HOOK, tiny_model
from htopk_helpers import make_sae
from sae_lens import SAE, TopKTrainingSAE, TopKTrainingSAEConfig

from saelens_hierarchical.adaptive import ThresholdRule, adaptive_encode, calibrate
from saelens_hierarchical.adaptive_export import cap_report, export_jumprelu, to_jumprelu

K = 6


def _saved(tmp_path, d_in: int = 12):
    sae = make_sae(d_in=d_in, d_sae=40, k=K)
    sae.cfg.metadata.hook_name = HOOK
    sae.save_inference_model(tmp_path / "topk")
    return SAE.load_from_disk(tmp_path / "topk")


def _tokens(n: int, seed: int, d_in: int = 12) -> torch.Tensor:
    return torch.randn(n, d_in, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("target", [1.0, 2.5, 4.0])
def test_export_reproduces_the_capped_rule_on_every_token_within_K(tmp_path, target):
    sae = _saved(tmp_path)
    x = _tokens(2000, 0)
    rule = calibrate(sae, x, target)
    jump = SAE.load_from_disk(export_jumprelu(sae, rule, tmp_path / "jump"))
    ours = adaptive_encode(sae, x, rule)
    with torch.no_grad():
        acts = jump.encode(x)
        recon = jump.decode(acts)
    within = (acts != 0).sum(-1) <= K
    assert bool(within.any())
    torch.testing.assert_close(acts[within], ours.feature_acts[within], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(recon[within], ours.sae_out[within], rtol=1e-5, atol=1e-6)


def test_cap_report_counts_tokens_over_K_and_both_explained_variances(tmp_path):
    sae = _saved(tmp_path)
    x = _tokens(2000, 1)
    rule = calibrate(sae, x, 4.0)
    jump = to_jumprelu(sae, rule)
    report = cap_report(sae, jump, x, rule)
    with torch.no_grad():
        l0 = (jump.encode(x) != 0).sum(-1)
    assert report.fraction_over_k == pytest.approx(float((l0 > K).float().mean()))
    assert report.fraction_over_k > 0  # random weights: some tokens clear the bar > K times
    assert report.max_l0_uncapped > K
    assert report.mean_l0_uncapped > report.mean_l0_capped == pytest.approx(4.0, abs=1e-3)


def test_exporting_a_plain_topk_sae_warns_and_a_hierarchical_one_does_not(tmp_path):
    topk = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=12, d_sae=40, k=K))
    with pytest.warns(UserWarning, match="not trained as 'hierarchical_topk'"):
        to_jumprelu(topk, ThresholdRule(0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_jumprelu(_saved(tmp_path), ThresholdRule(0.5))


def test_export_refuses_a_zero_threshold_naming_it(tmp_path):
    with pytest.raises(ValueError, match="threshold must be > 0 to export"):
        to_jumprelu(_saved(tmp_path), ThresholdRule(0.0))


def test_export_replaces_an_older_export_in_place(tmp_path):
    sae = _saved(tmp_path)
    export_jumprelu(sae, ThresholdRule(0.2), tmp_path / "jump")
    export_jumprelu(sae, ThresholdRule(0.7), tmp_path / "jump")
    thresholds = SAE.load_from_disk(tmp_path / "jump").threshold
    torch.testing.assert_close(thresholds, torch.full((40,), 0.7), rtol=1e-6, atol=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jump", "topk"]


@pytest.mark.slow  # a fresh interpreter importing sae_lens: ~10-40 s on shared cores
def test_export_loads_and_splices_with_plain_saelens_without_this_package(tmp_path):
    model = tiny_model()
    sae = _saved(tmp_path, d_in=model.cfg.d_model)
    rule = ThresholdRule(0.4)
    path = export_jumprelu(sae, rule, tmp_path / "jump")
    x = _tokens(5, 2, d_in=model.cfg.d_model)
    expected = to_jumprelu(sae, rule)(x).detach()
    script = textwrap.dedent(f"""
        import sys, torch
        class Refuse:  # the editable install would otherwise find this repo's packages
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("saelens_hierarchical", "lime_lens"):
                    raise ImportError(name)
        sys.meta_path.insert(0, Refuse())
        from sae_lens import SAE, HookedSAETransformer
        from transformer_lens import HookedTransformerConfig
        sae = SAE.load_from_disk({str(path)!r})
        cfg = HookedTransformerConfig(n_layers=1, d_model={model.cfg.d_model}, d_head=8, n_heads=2,
            d_mlp=32, d_vocab=50, n_ctx=16, act_fn="relu", normalization_type="LN")
        model = HookedSAETransformer(cfg)
        tokens = torch.arange(16)[None] % 50
        with torch.no_grad():
            spliced = model.run_with_saes(tokens, saes=[sae])
            replaced = model.run_with_hooks(
                tokens, fwd_hooks=[({HOOK!r}, lambda act, hook: sae(act))])
        assert torch.equal(spliced, replaced)
        assert not any(m.startswith(("saelens_hierarchical", "lime_lens")) for m in sys.modules)
        x = torch.tensor({x.tolist()!r})
        with torch.no_grad():
            print(type(sae).__name__, sae(x).tolist())
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    name, recon = out.stdout.strip().split(" ", 1)
    assert name == "JumpReLUSAE"
    torch.testing.assert_close(torch.tensor(json.loads(recon)), expected, rtol=1e-5, atol=1e-6)

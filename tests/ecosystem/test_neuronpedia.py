"""Neuronpedia export of our saved SAE with the in-memory default model and local data: the stock
runner's JSON, with firing fractions and top activations equal to the SAE's at that budget; an SAE
on a LIMe route hook exports too, with its logit lists empty (a route has no logit direction)."""

from __future__ import annotations

import json

import pytest
import torch
from route_helpers import route_feature_acts
from torch.testing import assert_close

pytestmark = pytest.mark.ecosystem
pytest.importorskip("sae_dashboard")

from saelens_hierarchical.budget import at_budget  # noqa: E402
from saelens_hierarchical.ecosystem.neuronpedia import (  # noqa: E402
    LOGIT_FIELDS,
    export_neuronpedia,
)
from saelens_hierarchical.ecosystem.sae_folder import load_sae  # noqa: E402

BUDGET = 4


def _ignored(tokens, tok):
    """The runner zeroes its ignore_tokens: pad, BOS, EOS."""
    return torch.isin(tokens, torch.tensor([tok.pad_token_id, tok.bos_token_id, tok.eos_token_id]))


def _features(out):
    return [
        f
        for path in sorted(out.glob("batch-*.json"))
        for f in json.loads(path.read_text())["features"]
    ]


def test_runner_writes_every_feature_with_the_sae_statistics_at_the_budget(
    sae_dir, default_model, token_rows, tmp_path
):
    out = export_neuronpedia(
        sae_dir, default_model, token_rows, tmp_path / "np", budget=BUDGET, n_prompts=64
    )
    assert out.parent == tmp_path / "np" and not (out / "cached_activations").exists()
    features = _features(out)
    assert sorted(f["feature_index"] for f in features) == list(range(256))

    tokens = torch.load(out / "tokens_64.pt", weights_only=True)  # the prompts the runner used
    sae, hook = load_sae(sae_dir), "blocks.2.hook_resid_post"
    with torch.no_grad(), at_budget(sae, BUDGET):
        _, cache = default_model.run_with_cache(tokens, names_filter=[hook])
        acts = sae.encode(cache[hook])  # [batch, pos, d_sae]
    ignored = _ignored(tokens, default_model.tokenizer)
    acts[ignored] = 0
    by_index = {f["feature_index"]: f for f in features}
    frac = torch.tensor([by_index[i]["frac_nonzero"] for i in range(256)])
    # the JSON keeps 5 decimals of frac_nonzero
    assert_close(frac, (acts > 0).float().mean((0, 1)), atol=1e-5, rtol=0)
    kept = 1 - ignored.float().mean()
    assert_close(frac.sum(), BUDGET * kept, atol=0.05, rtol=0)  # L0 = k on every kept token
    for i in frac.topk(5).indices.tolist():
        shown = max(max(a["values"]) for a in by_index[i]["activations"])
        assert_close(torch.tensor(shown), acts[..., i].max(), atol=1e-3, rtol=0)  # 3 decimals


def test_budget_above_k_is_refused_before_anything_is_written(
    sae_dir, default_model, token_rows, tmp_path
):
    with pytest.raises(ValueError, match=r"budgets must be in 1\.\.K=16; got \[17\]"):
        export_neuronpedia(sae_dir, default_model, token_rows, tmp_path / "np", budget=17)
    assert not (tmp_path / "np").exists()


def test_a_lime_route_sae_exports_its_firing_and_no_logits(
    route_model, route_tokens, route_sae, tmp_path
):
    route_sae.save_model(tmp_path / "sae")
    out = export_neuronpedia(
        tmp_path / "sae", route_model, route_tokens, tmp_path / "np", n_prompts=32
    )
    features = _features(out)
    assert sorted(f["feature_index"] for f in features) == list(range(32))
    tokens = torch.load(out / "tokens_32.pt", weights_only=True)
    acts = route_feature_acts(route_sae, route_model, tokens, 4)  # the 4-D route, flattened
    acts[_ignored(tokens, route_model.tokenizer)] = 0
    by_index = {f["feature_index"]: f for f in features}
    frac = torch.tensor([by_index[i]["frac_nonzero"] for i in range(32)])
    assert_close(frac, (acts > 0).float().mean((0, 1)), atol=1e-5, rtol=0)
    # a route latent has no logit direction: the logit lists are empty, not filled from zeros
    assert all(f[field] == [] for f in features for field in LOGIT_FIELDS)


def test_an_sae_without_prepend_bos_is_refused_naming_its_cfg_before_anything_is_written(
    route_model, route_tokens, route_sae, tmp_path
):
    import copy

    from sae_lens import TopKSAE

    sae = TopKSAE(copy.deepcopy(route_sae.cfg))  # a copy: the fixture is shared
    sae.cfg.metadata.prepend_bos = None  # a hand-made SAE; SAELens's runners always set it
    sae.save_model(tmp_path / "sae")
    with pytest.raises(ValueError, match=r"sae/cfg\.json: metadata\.prepend_bos is not set"):
        export_neuronpedia(tmp_path / "sae", route_model, route_tokens, tmp_path / "np")
    assert not (tmp_path / "np").exists()

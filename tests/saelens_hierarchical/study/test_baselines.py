"""Peer baselines: the peer set, lockstep training on identical data, plain-SAELens outputs."""

import json

import pytest
import torch
from comparison_helpers import D_MODEL, HOOK, tiny_model, token_dataset
from sae_lens import SAE, JumpReLUSAE, TopKSAE
from sae_lens.registry import get_sae_training_class

from saelens_hierarchical.study.baselines import (
    BaselineConfig,
    peer_configs,
    train_on_model,
    train_on_provider,
)
from saelens_hierarchical.study.peers import METHOD_KEY, method_of, sae_name, trained_k_of

SMALL = dict(d_sae=32, K=4, budgets=[1, 2, 4], training_tokens=512, train_batch_size_tokens=128)


def test_peer_set_has_one_sae_per_budget_and_single_saes_at_K():
    cfgs = peer_configs(BaselineConfig(**SMALL), d_in=D_MODEL)
    assert sorted(cfgs) == sorted(
        ["hierarchical_topk_K4", "multi_topk_K4"]
        + [f"{m}_k{k}" for m in ("topk", "batchtopk", "matryoshka_batchtopk") for k in (1, 2, 4)]
    )
    for name, cfg in cfgs.items():
        assert cfg.architecture() == method_of(cfg)
        assert sae_name(method_of(cfg), trained_k_of(cfg)) == name  # metadata, not the name
        assert get_sae_training_class(cfg.architecture())[1] is type(cfg)
    assert cfgs["hierarchical_topk_K4"].k == 4 and cfgs["topk_k2"].k == 2
    assert cfgs["matryoshka_batchtopk_k1"].matryoshka_widths == [4, 8, 16, 32]


def _provider(n_steps: int, batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(D_MODEL, D_MODEL, generator=g)
    return iter([torch.randn(batch, D_MODEL, generator=g) @ mix + 1.0 for _ in range(n_steps + 20)])


def test_adding_peers_does_not_change_what_any_sae_trains_on(tmp_path):
    alone = BaselineConfig(**{**SMALL, "methods": ("topk",), "budgets": [2]})
    crowd = BaselineConfig(**{**SMALL, "methods": ("topk", "multi_topk"), "budgets": [2, 4]})
    p_alone = train_on_provider(alone, _provider(4, 128), D_MODEL, HOOK, tmp_path / "a")
    p_crowd = train_on_provider(crowd, _provider(4, 128), D_MODEL, HOOK, tmp_path / "b")
    a, b = SAE.load_from_disk(p_alone["topk_k2"]), SAE.load_from_disk(p_crowd["topk_k2"])
    untrained = SAE.load_from_disk(p_crowd["topk_k4"])
    assert not torch.equal(a.W_dec, untrained.W_dec)
    for name in ("W_enc", "W_dec", "b_enc", "b_dec"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=0, atol=0)


def test_train_on_model_saves_every_peer_as_a_plain_saelens_sae(tmp_path):
    paths = train_on_model(
        BaselineConfig(**SMALL), tiny_model(), token_dataset(64), HOOK, tmp_path, context_size=16
    )
    for name, path in paths.items():
        sae = SAE.load_from_disk(path)
        meta = json.loads((path / "cfg.json").read_text())["metadata"]
        method = method_of(sae.cfg)  # read back from the saved metadata
        assert meta[METHOD_KEY] == method and sae_name(method, trained_k_of(sae.cfg)) == name
        assert meta["hook_name"] == HOOK and meta["training_architecture"] == method
        expected = TopKSAE if method in ("hierarchical_topk", "multi_topk", "topk") else JumpReLUSAE
        assert type(sae) is expected, name
        assert torch.isfinite(sae.W_dec).all()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"methods": ("nope",)}, "methods"),
        ({"K": 64}, "K"),
        ({"budgets": [8]}, "budgets"),
        ({"K": 16, "budgets": [16]}, "multi_topk"),
        ({"training_tokens": 8}, "training_tokens"),
    ],
)
def test_baseline_config_rejects_bad_fields(kwargs, field):
    with pytest.raises(ValueError, match=field):
        BaselineConfig(**{**SMALL, **kwargs})

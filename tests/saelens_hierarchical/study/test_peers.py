"""The peer table: one entry per method; method and trained k travel in the SAE metadata."""

import pytest
from sae_lens import TopKSAEConfig, TopKTrainingSAEConfig

from saelens_hierarchical.study.baselines import BaselineConfig, peer_configs
from saelens_hierarchical.study.peers import (
    PEERS,
    Peer,
    PeerArgs,
    build_config,
    method_of,
    sae_name,
    trained_k_of,
)


def test_swept_peers_are_one_sae_at_K_and_the_others_one_per_budget():
    budgets = [1, 2, 4]
    assert {m for m, p in PEERS.items() if p.swept} == {"hierarchical_topk", "multi_topk"}
    assert PEERS["hierarchical_topk"].trained_ks(4, budgets) == [4]
    assert PEERS["hierarchical_topk"].eval_budgets(budgets) == budgets
    assert PEERS["topk"].trained_ks(4, budgets) == budgets
    assert PEERS["topk"].eval_budgets(budgets) is None
    assert (
        sae_name("hierarchical_topk", 4) == "hierarchical_topk_K4"
        and sae_name("topk", 2) == "topk_k2"
    )


def test_build_config_records_method_and_trained_k_in_the_metadata():
    cfg = build_config("batchtopk", PeerArgs(3, {"d_in": 8, "d_sae": 32}, [4, 8, 16, 32]))
    assert (method_of(cfg), trained_k_of(cfg)) == ("batchtopk", 3)
    assert cfg.to_dict()["metadata"]["peer_method"] == "batchtopk"


def test_an_sae_not_trained_by_the_study_has_no_method():
    with pytest.raises(ValueError, match="peer_method"):
        method_of(TopKSAEConfig(d_in=4, d_sae=8, k=2))
    with pytest.raises(ValueError, match="peer_trained_k"):
        trained_k_of(TopKSAEConfig(d_in=4, d_sae=8, k=2))


def test_adding_a_peer_is_one_table_entry(monkeypatch):
    wide = Peer(lambda a: TopKTrainingSAEConfig(k=a.k, **a.common), swept=True, d_sae_per_k=2)
    monkeypatch.setitem(PEERS, "wide_topk", wide)
    cfg = BaselineConfig(d_sae=32, K=4, budgets=[2, 4], methods=("wide_topk", "topk"))
    assert list(peer_configs(cfg, d_in=8)) == ["wide_topk_K4", "topk_k2", "topk_k4"]
    with pytest.raises(ValueError, match="wide_topk needs 2"):
        BaselineConfig(d_sae=32, K=32, budgets=[2], methods=("wide_topk",))

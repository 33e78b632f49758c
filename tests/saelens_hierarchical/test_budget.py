"""Inference at budget k <= K on the saved stock TopKSAE and on the training SAE."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from htopk_helpers import make_sae
from sae_lens import SAE, TopKSAE
from sae_lens.saes.batchtopk_sae import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig
from sae_lens.saes.topk_sae import TopKSAEConfig

from saelens_hierarchical import at_budget, current_budget, max_budget, set_budget


def _saved_inference_sae(tmp_path) -> tuple[SAE, torch.nn.Module]:
    train_sae = make_sae(k=6)
    train_sae.save_inference_model(tmp_path)
    return SAE.load_from_disk(tmp_path), train_sae


def _prefix_reconstruction(train_sae, x: torch.Tensor, k: int) -> torch.Tensor:
    top = train_sae.sorted_top_k(x)
    rows = train_sae.W_dec[top.indices[:, :k]]
    return train_sae.b_dec + (top.coefficients[:, :k, None] * rows).sum(1)


def test_saved_sae_loads_as_stock_topk_with_unit_norm_decoder_and_recorded_k(tmp_path):
    sae, _ = _saved_inference_sae(tmp_path)
    assert type(sae) is TopKSAE
    torch.testing.assert_close(sae.W_dec.norm(dim=-1), torch.ones(40))
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    assert cfg["architecture"] == "topk"
    assert cfg["metadata"]["training_architecture"] == "hierarchical_topk"
    assert cfg["metadata"]["hierarchical_max_k"] == 6


@pytest.mark.parametrize("k", [1, 3, 6])
def test_budget_k_reconstruction_is_the_top_k_prefix_of_the_trained_sae(tmp_path, k):
    sae, train_sae = _saved_inference_sae(tmp_path)
    x = torch.randn(16, 12)
    set_budget(sae, k)
    assert sae.cfg.k == k and current_budget(sae) == k
    assert ((sae.encode(x) != 0).sum(-1) <= k).all()
    with torch.no_grad():
        torch.testing.assert_close(
            sae(x), _prefix_reconstruction(train_sae, x, k), rtol=1e-4, atol=1e-5
        )


def test_changing_cfg_k_alone_does_nothing_which_is_why_set_budget_exists(tmp_path):
    sae, _ = _saved_inference_sae(tmp_path)
    x = torch.randn(16, 12)
    sae.cfg.k = 2
    assert ((sae.encode(x) != 0).sum(-1) > 2).any()


def test_at_budget_restores_the_previous_budget_even_on_error(tmp_path):
    sae, _ = _saved_inference_sae(tmp_path)
    x = torch.randn(16, 12)
    full = sae.encode(x)
    with pytest.raises(RuntimeError):
        with at_budget(sae, 2):
            assert current_budget(sae) == 2
            raise RuntimeError("boom")
    assert sae.cfg.k == 6 and current_budget(sae) == 6
    torch.testing.assert_close(sae.encode(x), full)


@pytest.mark.parametrize("bad", [0, 7, -1, 2.0])
def test_budget_outside_1_to_K_raises_naming_k_and_K(tmp_path, bad, unchecked):
    sae, _ = _saved_inference_sae(tmp_path)
    set_budget(sae, 3)  # K must still come from metadata once cfg.k has changed
    with pytest.raises(ValueError, match=rf"k={bad!r} is outside 1\.\.K=6"):
        set_budget(sae, bad)


def test_plain_topk_sae_without_metadata_uses_its_own_k_as_K():
    sae = TopKSAE(TopKSAEConfig(d_in=8, d_sae=16, k=5))
    assert max_budget(sae) == 5
    set_budget(sae, 2)
    assert max_budget(sae) == 5 and sae.cfg.metadata.hierarchical_max_k == 5
    set_budget(sae, 5)
    with pytest.raises(ValueError, match="K=5"):
        set_budget(sae, 6)


def test_training_sae_budget_changes_encode_but_not_the_trained_k():
    sae = make_sae(k=6)
    x = torch.randn(16, 12)
    with at_budget(sae, 2):
        assert ((sae.encode(x) != 0).sum(-1) <= 2).all()
        assert sae.cfg.k == 6 and max_budget(sae) == 6
    assert ((sae.encode(x) != 0).sum(-1) > 2).any()


def test_batchtopk_is_rejected_with_type_error():
    sae = BatchTopKTrainingSAE(BatchTopKTrainingSAEConfig(d_in=8, d_sae=16, k=4.0))
    with pytest.raises(TypeError, match="BatchTopKTrainingSAE"):
        set_budget(sae, 2)


@pytest.mark.slow  # a fresh interpreter importing sae_lens: ~10-40 s on shared cores
def test_saved_sae_loads_with_stock_saelens_without_this_package(tmp_path):
    _, train_sae = _saved_inference_sae(tmp_path)
    x = torch.randn(5, 12)
    with torch.no_grad():
        expected = _prefix_reconstruction(train_sae, x, 6)
    script = textwrap.dedent(f"""
        import sys, torch
        from sae_lens import SAE
        sae = SAE.load_from_disk({str(tmp_path)!r})
        assert "saelens_hierarchical" not in sys.modules
        x = torch.tensor({x.tolist()!r})
        with torch.no_grad():
            print(type(sae).__name__, sae.cfg.k, sae(x).tolist())
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    name, k, recon = out.stdout.strip().split(" ", 2)
    assert (name, k) == ("TopKSAE", "6")
    torch.testing.assert_close(torch.tensor(json.loads(recon)), expected, rtol=1e-4, atol=1e-5)

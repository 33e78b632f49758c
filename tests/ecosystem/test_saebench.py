"""SAEBench core + meta_structure per budget through its own run_evals and loader: L0, CE-loss
score and KL agree with SAELens run_evals at every budget; the two tools' different explained
variance and MSE are each reproduced from the activations by their stated definitions."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

pytestmark = pytest.mark.ecosystem
pytest.importorskip("sae_bench")

from saelens_hierarchical.budget import at_budget  # noqa: E402
from saelens_hierarchical.ecosystem.sae_folder import load_sae  # noqa: E402
from saelens_hierarchical.ecosystem.saebench import (  # noqa: E402
    SAEBenchConfig,
    check_agreement,
    explained_variance_definitions,
    saebench_by_budget,
)

BUDGETS = [4, 16]
CFG = SAEBenchConfig(n_batches=2, batch_size_prompts=8, context_size=64, meta_structure_steps=50)


@pytest.fixture(scope="module")
def table(sae_dir, default_model, token_rows):
    return saebench_by_budget(load_sae(sae_dir), default_model, token_rows, BUDGETS, CFG)


def test_saebench_and_saelens_agree_on_l0_ce_and_kl_at_every_budget(table):
    assert table["budget"].tolist() == BUDGETS
    # both tools splice the same reconstruction into the same tokens: equal up to float sums
    check_agreement(table, atol=1e-4)
    assert table["saebench_l0"].tolist() == [4.0, 16.0]
    assert table["saebench_ce_loss_score"].iloc[0] < table["saebench_ce_loss_score"].iloc[1]
    # meta_structure reads only the decoder, which no budget changes
    assert table["meta_structure_decoder_fve"].nunique() == 1


def test_explained_variance_and_mse_differ_exactly_as_their_definitions_do(
    table, sae_dir, default_model, token_rows
):
    sae, hook = load_sae(sae_dir), "blocks.2.hook_resid_post"
    n_rows = CFG.n_batches * CFG.batch_size_prompts
    # both read rows in order: CE/KL batches first, then the sparsity/variance batches
    tokens = torch.tensor(token_rows[n_rows : 2 * n_rows]["tokens"])
    keep = tokens != default_model.tokenizer.bos_token_id  # both tools drop BOS positions
    for i, k in enumerate(BUDGETS):
        with torch.no_grad(), at_budget(sae, k):
            _, cache = default_model.run_with_cache(tokens, names_filter=[hook])
            x = cache[hook][keep]
            x_hat = sae(x)
        ev = explained_variance_definitions(x, x_hat)
        row = table.iloc[i]
        assert_close(ev["saelens"], row["saelens_explained_variance"], atol=1e-4, rtol=0)
        assert_close(ev["saebench"], row["saebench_explained_variance"], atol=1e-4, rtol=0)
        assert abs(ev["saelens"] - ev["saebench"]) > 1e-3  # the definitions really differ
        per_batch = keep[: CFG.batch_size_prompts].sum().item()  # unmasked tokens per batch
        assert_close(row["saebench_mse"] * per_batch, row["saelens_mse"], rtol=1e-4, atol=0)
        assert_close(
            row["saebench_explained_variance_legacy"],
            row["saelens_explained_variance_legacy"],
            rtol=1e-5,
            atol=0,
        )


def test_budget_above_k_is_refused(sae_dir, default_model, token_rows):
    with pytest.raises(ValueError, match=r"budgets must be in 1\.\.K=16; got \[4, 64\]"):
        saebench_by_budget(load_sae(sae_dir), default_model, token_rows, [4, 64], CFG)

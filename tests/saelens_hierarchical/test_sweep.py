"""Budget sweeps: identical held-out tokens at every budget, parity with a plain-torch EV/MSE/L0."""

import json

import pandas as pd
import pytest
import torch
from comparison_helpers import HOOK, random_topk_sae, tiny_model, token_dataset

from saelens_hierarchical.sweep import COLUMNS, SweepConfig, sweep_budgets, token_store

CFG = SweepConfig(n_batches=2, batch_size_prompts=3, context_size=16)


def _tokens_seen(store, n: int) -> torch.Tensor:
    return torch.cat([store.get_batch_tokens() for _ in range(n)])


def test_fresh_store_per_budget_replays_identical_tokens_where_reset_does_not():
    model, data, sae = tiny_model(), token_dataset(20), random_topk_sae(k=4)
    first = _tokens_seen(token_store(model, sae, data, CFG), 2)
    second = _tokens_seen(token_store(model, sae, data, CFG), 2)
    torch.testing.assert_close(first, second)
    torch.testing.assert_close(first, torch.as_tensor(data["tokens"][:6]))
    # SAELens's own reset does not rewind the stream: the reason the sweep builds fresh stores.
    shared = token_store(model, sae, data, CFG)
    _tokens_seen(shared, 2)
    shared.reset_input_dataset()
    assert not torch.equal(_tokens_seen(shared, 2), first)


def _plain_torch_metrics(model, sae, tokens: torch.Tensor, k: int) -> dict[str, float]:
    _, cache = model.run_with_cache(tokens, names_filter=[HOOK])
    x = cache[HOOK].reshape(-1, sae.cfg.d_in).double()
    W_enc, W_dec, b_enc, b_dec = (p.double() for p in (sae.W_enc, sae.W_dec, sae.b_enc, sae.b_dec))
    pre = ((x - b_dec) @ W_enc + b_enc) * W_dec.norm(dim=-1)
    vals, idx = pre.topk(k, dim=-1)
    acts = torch.zeros_like(pre).scatter(-1, idx, vals.relu())
    x_hat = (acts / W_dec.norm(dim=-1)) @ W_dec + b_dec
    mse = (x - x_hat).pow(2).sum(-1).mean()
    variance = x.pow(2).sum(-1).mean() - x.mean(0).pow(2).sum()
    return {
        "mse": mse.item(),
        "explained_variance": (1 - mse / variance).item(),
        "l0": (acts != 0).sum(-1).double().mean().item(),
    }


def test_sweep_metrics_match_plain_torch_topk_at_every_budget(tmp_path):
    model, data, sae = tiny_model(), token_dataset(20), random_topk_sae(k=8)
    table = sweep_budgets(sae, model, data, [1, 3, 8], method="topk", cfg=CFG, out_dir=tmp_path)
    assert list(table.columns) == COLUMNS and list(table["budget"]) == [1, 3, 8]
    # run_evals uses batches 0-1 for CE/KL, then (no rewind) batches 2-3 for EV/MSE/L0.
    tokens = torch.as_tensor(data["tokens"][6:12])
    for _, row in table.iterrows():
        ref = _plain_torch_metrics(model, sae, tokens, int(row["budget"]))
        for name, value in ref.items():
            torch.testing.assert_close(row[name], value, rtol=1e-4, atol=1e-5)
    assert sae.cfg.k == 8  # the budget context restores the SAE
    saved = pd.read_csv(tmp_path / "sweep.csv")
    torch.testing.assert_close(
        saved["explained_variance"].to_numpy(), table["explained_variance"].to_numpy()
    )
    assert json.loads((tmp_path / "sweep.json").read_text())["rows"][2]["budget"] == 8


def test_sweep_reports_dead_and_dense_latents_from_feature_density():
    model, data, sae = tiny_model(), token_dataset(20), random_topk_sae(k=4, d_sae=64)
    with torch.no_grad():
        sae.b_enc[:3] = 100.0  # three latents win every top-k: dense
        sae.b_enc[3:10] = -100.0  # seven latents can never be selected: dead
    row = sweep_budgets(sae, model, data, None, method="topk", cfg=CFG).iloc[0]
    assert row["dense_latents"] >= 3 and row["dead_latents"] >= 7
    assert row["budget"] == 4 and row["trained_k"] == 4


def test_sweep_config_rejects_bad_fields():
    with pytest.raises(ValueError, match="dense_threshold"):
        SweepConfig(dense_threshold=0.0)
    with pytest.raises(ValueError, match="n_batches"):
        SweepConfig(n_batches=0)

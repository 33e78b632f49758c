"""HierarchicalTopKTrainingSAE against stock SAELens TopK with the same weights."""

from __future__ import annotations

import pytest
import torch
from htopk_helpers import grads_of, make_sae, step_input
from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
from sae_lens.training.sae_trainer import _unwrap_item

from saelens_hierarchical import HierarchicalTopKTrainingSAE


def _stock_twin(sae: HierarchicalTopKTrainingSAE) -> TopKTrainingSAE:
    cfg = sae.cfg
    stock = TopKTrainingSAE(
        TopKTrainingSAEConfig(
            d_in=cfg.d_in,
            d_sae=cfg.d_sae,
            k=cfg.k,
            dtype=cfg.dtype,
            rescale_acts_by_decoder_norm=cfg.rescale_acts_by_decoder_norm,
            use_sparse_activations=cfg.use_sparse_activations,
            apply_b_dec_to_input=cfg.apply_b_dec_to_input,
        )
    )
    stock.load_state_dict(sae.state_dict())
    return stock


@pytest.mark.parametrize("rescale", [True, False])
@pytest.mark.parametrize("k", [1, 6, 40])
def test_full_k_reconstruction_and_outputs_equal_stock_topk(rescale, k):
    sae = make_sae(k=k, rescale_acts_by_decoder_norm=rescale)
    stock = _stock_twin(sae)
    x = torch.randn(20, 12)
    ours, theirs = (
        sae.training_forward_pass(step_input(x)),
        stock.training_forward_pass(step_input(x)),
    )
    torch.testing.assert_close(ours.sae_out, theirs.sae_out)
    torch.testing.assert_close(ours.feature_acts, theirs.feature_acts)
    torch.testing.assert_close(ours.hidden_pre, theirs.hidden_pre)
    torch.testing.assert_close(sae.encode(x), stock.encode(x))


@pytest.mark.parametrize("rescale", [True, False])
def test_budgets_equal_to_k_only_reproduce_stock_topk_loss_and_gradients(rescale):
    sae = make_sae(k=6, budgets=[6], rescale_acts_by_decoder_norm=rescale)
    stock = _stock_twin(sae)
    x = torch.randn(20, 12)
    ours, theirs = (
        sae.training_forward_pass(step_input(x)),
        stock.training_forward_pass(step_input(x)),
    )
    torch.testing.assert_close(ours.loss, theirs.loss)
    ours_g, theirs_g = grads_of(sae, ours.loss), grads_of(stock, theirs.loss)
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        torch.testing.assert_close(ours_g[name], theirs_g[name], rtol=1e-4, atol=1e-6)


def test_dead_latents_get_stock_auxk_loss_and_gradient():
    sae = make_sae(k=4)
    stock = _stock_twin(sae)
    x = torch.randn(20, 12)
    dead = torch.zeros(40, dtype=torch.bool)
    dead[::3] = True
    ours = sae.training_forward_pass(step_input(x, dead=dead))
    theirs = stock.training_forward_pass(step_input(x, dead=dead))
    aux = ours.losses["auxiliary_reconstruction_loss"]
    assert aux > 0
    torch.testing.assert_close(aux, theirs.losses["auxiliary_reconstruction_loss"])
    torch.testing.assert_close(ours.loss, ours.losses["hierarchical_mse_loss"] + aux)
    # AuxK trains dead latents' encoder columns, which the prefix loss never reaches.
    ours_g, theirs_g = (
        grads_of(sae, aux),
        grads_of(stock, theirs.losses["auxiliary_reconstruction_loss"]),
    )
    for name in ("W_enc", "W_dec"):
        torch.testing.assert_close(ours_g[name], theirs_g[name], rtol=1e-4, atol=1e-6)


def test_hierarchical_loss_is_the_weighted_mean_of_prefix_errors():
    sae = make_sae(k=4, budgets=[1, 4], budget_weights=[3.0, 1.0])
    x = torch.randn(20, 12)
    out = sae.training_forward_pass(step_input(x))
    top = sae.sorted_top_k(x)
    assert torch.all(top.values[:, :-1] >= top.values[:, 1:])  # descending order
    rows = sae.W_dec[top.indices]  # [batch, k, d_in]
    err = [
        (x - sae.b_dec - (top.coefficients[:, :j, None] * rows[:, :j]).sum(1)).pow(2).sum(-1).mean()
        for j in (1, 4)
    ]
    torch.testing.assert_close(out.losses["hierarchical_mse_loss"], 0.75 * err[0] + 0.25 * err[1])


def test_use_sparse_activations_gives_stock_sparse_feature_acts():
    sae = make_sae(k=4, use_sparse_activations=True)
    stock = _stock_twin(sae)
    x = torch.randn(20, 12)
    ours, theirs = (
        sae.training_forward_pass(step_input(x)),
        stock.training_forward_pass(step_input(x)),
    )
    assert ours.feature_acts.is_sparse
    torch.testing.assert_close(ours.feature_acts.to_dense(), theirs.feature_acts.to_dense())


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_activations_raise_a_clear_error(bad):
    sae = make_sae()
    x = torch.randn(8, 12)
    x[3, 2] = bad
    with pytest.raises(ValueError, match="NaN or inf in the input activations"):
        sae.training_forward_pass(step_input(x))


def test_non_finite_weights_raise_a_clear_error():
    sae = make_sae()
    with torch.no_grad():
        sae.W_enc[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf in the top-k pre-activations"):
        sae.training_forward_pass(step_input(torch.randn(8, 12)))


def test_per_budget_explained_variance_is_logged_lazily_on_logging_steps():
    sae = make_sae(k=8)
    x = torch.randn(30, 12)
    assert sae.training_forward_pass(step_input(x, logging=False)).metrics == {}
    metrics = sae.training_forward_pass(step_input(x, logging=True)).metrics
    assert sorted(metrics) == [f"explained_variance_k{j}" for j in (1, 2, 4, 8)]
    assert all(callable(v) for v in metrics.values())
    top = sae.sorted_top_k(x)
    rows = sae.W_dec[top.indices]
    total = (x - x.mean(0)).pow(2).sum(-1).mean()
    for j in (1, 2, 4, 8):
        recon = sae.b_dec + (top.coefficients[:, :j, None] * rows[:, :j]).sum(1)
        expected = 1 - (x - recon).pow(2).sum(-1).mean() / total
        assert _unwrap_item(metrics[f"explained_variance_k{j}"]) == pytest.approx(
            expected.item(), abs=1e-5
        )


def test_explained_variance_at_k_equals_saelens_trainer_explained_variance():
    sae = make_sae(k=8)
    x = torch.randn(30, 12)
    out = sae.training_forward_pass(step_input(x, logging=True))
    total = (x - x.mean(0)).pow(2).sum(-1)
    saelens_ev = 1 - (out.sae_out - x).pow(2).sum(-1).mean() / total.mean()  # SAETrainer formula
    assert out.metrics["explained_variance_k8"]() == pytest.approx(saelens_ev.item(), abs=1e-5)


def test_training_step_reduces_the_hierarchical_loss():
    sae = make_sae(k=4)
    optimizer = torch.optim.Adam(sae.parameters(), lr=1e-2)
    x = torch.randn(64, 12)
    first = None
    for _ in range(30):
        loss = sae.training_forward_pass(step_input(x)).loss
        first = loss.item() if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.7 * first


def test_logged_explained_variance_reflects_the_step_weights_not_the_updated_ones():
    sae = make_sae(k=4)
    x = torch.randn(30, 12)
    out = sae.training_forward_pass(step_input(x, logging=True))
    before = sae.training_forward_pass(step_input(x, logging=True)).metrics[
        "explained_variance_k4"
    ]()
    out.loss.backward()
    torch.optim.SGD(sae.parameters(), lr=0.5).step()  # the trainer logs after its optimizer step
    assert out.metrics["explained_variance_k4"]() == pytest.approx(before, abs=1e-6)

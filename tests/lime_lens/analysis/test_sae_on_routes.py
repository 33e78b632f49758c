import datasets
import pytest
import torch

from lime_lens.analysis.sae_on_routes import route_sae_hook, sweep_route_sae, train_route_sae

from .helpers import random_tokens, tiny_lime, tiny_vanilla


def _dataset(n_seq: int = 64, pos: int = 16) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"tokens": random_tokens(n_seq, pos).numpy()}).with_format(
        "torch"
    )


def test_route_sae_hook_is_mixed_values_in_kv_mode_and_route_mixture_in_residual_mode():
    kv, res = tiny_lime("kv", gqa=True), tiny_lime("residual", "dynamic")
    assert route_sae_hook(kv, 2, head=1) == ("blocks.2.attn.hook_v", 1, kv.cfg.d_head)
    assert route_sae_hook(kv, 2, head=None) == ("blocks.2.attn.hook_v", None, 2 * kv.cfg.d_head)
    assert route_sae_hook(res, 1, head=0) == ("blocks.1.lime.hook_kv_in", 0, res.cfg.d_model)
    with pytest.raises(ValueError, match="layer"):
        route_sae_hook(kv, 0)
    with pytest.raises(ValueError, match="LIMe"):
        route_sae_hook(tiny_vanilla(), 1)


@pytest.mark.parametrize("mode,lookup", [("kv", "static"), ("residual", "dynamic")])
def test_stock_runner_trains_hierarchical_sae_on_route_hook_and_it_encodes_that_hooks_activations(
    mode, lookup, tmp_path
):
    model, ds = tiny_lime(mode, lookup), _dataset()
    sae = train_route_sae(
        model,
        ds,
        layer=2,
        head=1,
        output_path=tmp_path,
        d_sae=32,
        k=4,
        training_tokens=2048,
        context_size=16,
        train_batch_size_tokens=256,
    )
    name, head, d_in = route_sae_hook(model, 2, 1)
    assert (sae.cfg.architecture(), sae.cfg.d_in, sae.cfg.k) == ("topk", d_in, 4)
    assert (sae.cfg.metadata.hook_name, sae.cfg.metadata.hook_head_index) == (name, head)
    assert (tmp_path / "cfg.json").exists()
    _, cache = model.run_with_cache(random_tokens(2, 16, seed=5), names_filter=[name])
    acts = sae.encode(cache[name][:, :, head])
    assert ((acts != 0).sum(-1) <= 4).all() and (acts != 0).any()


def test_budget_sweep_of_route_sae_uses_each_budget_on_identical_tokens():
    model, ds = tiny_lime("kv"), _dataset()
    sae = train_route_sae(
        model,
        ds,
        layer=1,
        head=0,
        d_sae=32,
        k=4,
        training_tokens=2048,
        context_size=16,
        train_batch_size_tokens=256,
    )
    table = sweep_route_sae(
        sae, model, ds, [1, 2, 4], context_size=16, n_batches=2, batch_size_prompts=4
    )
    torch.testing.assert_close(table["l0"].tolist(), [1.0, 2.0, 4.0])
    assert table["n_tokens"].nunique() == 1 and table["ce_loss_without_sae"].nunique() == 1
    assert sae.cfg.k == 4  # the sweep restores the trained budget

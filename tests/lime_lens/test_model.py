"""HookedLIMeTransformer: reduction to vanilla TransformerLens, causality, GQA, route ablation."""

import pytest
import torch
from lime_helpers import (
    MODES,
    build,
    gpt2_cfg,
    llama_cfg,
    one_hot_route_hook,
    route_one_hot_on_current,
    tokens,
    vanilla_twin,
)
from torch.testing import assert_close
from transformer_lens import HookedTransformerConfig

from lime_lens import HookedLIMeTransformer

CFGS = {"llama_gqa": llama_cfg, "gpt2": gpt2_cfg}


def _residual_one_hot_hooks(model):
    if model.cfg.lime_mode == "kv":
        return []
    return [(lambda name: name.endswith("lime.hook_route"), one_hot_route_hook)]


@pytest.mark.parametrize("arch", CFGS)
@pytest.mark.parametrize("mode, lookup", MODES)
def test_one_hot_routes_on_current_layer_reproduce_vanilla_logits(arch, mode, lookup):
    model = build(CFGS[arch](lime_mode=mode, lime_lookup=lookup))
    route_one_hot_on_current(model)
    toks = tokens()
    lime_logits = model.run_with_hooks(toks, fwd_hooks=_residual_one_hot_hooks(model))
    assert_close(lime_logits, vanilla_twin(model)(toks), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", CFGS)
def test_one_hot_static_residual_logits_reproduce_vanilla_without_hooks(arch):
    model = build(CFGS[arch](lime_mode="residual"))
    route_one_hot_on_current(model)  # -inf logits everywhere but the own input
    toks = tokens()
    assert_close(model(toks), vanilla_twin(model)(toks), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode, lookup", MODES)
def test_default_init_routes_across_layers_so_logits_differ_from_vanilla(mode, lookup):
    model = build(llama_cfg(lime_mode=mode, lime_lookup=lookup))
    toks = tokens()
    assert (model(toks) - vanilla_twin(model)(toks)).abs().max() > 1e-3


@pytest.mark.parametrize("arch", CFGS)
@pytest.mark.parametrize("mode, lookup", MODES)
def test_changing_token_t_leaves_earlier_logits_unchanged(arch, mode, lookup):
    model = build(CFGS[arch](lime_mode=mode, lime_lookup=lookup))
    toks = tokens(batch=1, pos=10)
    changed = toks.clone()
    changed[0, 6] = (changed[0, 6] + 1) % model.cfg.d_vocab
    a, b = model(toks), model(changed)
    assert_close(a[:, :6], b[:, :6], atol=1e-6, rtol=0)
    assert (a[:, 6:] - b[:, 6:]).abs().max() > 1e-4


def test_gqa_routes_kv_heads_and_shares_them_across_query_groups():
    model = build(llama_cfg(n_heads=4, n_key_value_heads=2))
    _, cache = model.run_with_cache(tokens())
    assert cache["blocks.2.attn.hook_k"].shape == (2, 12, 2, 8)
    assert cache["blocks.2.lime.hook_route"].shape == (2, 2, 3, 2)
    assert cache["blocks.2.attn.hook_q"].shape == (2, 12, 4, 8)
    # with one-hot routes a GQA LIMe model is exactly the vanilla GQA model (checked above);
    # here the route really mixes heads: mixed K differs from the layer's own raw K
    assert (cache["blocks.2.attn.hook_k"] - cache["blocks.2.attn.hook_k_raw"]).abs().max() > 1e-3


def _kv_entry_ablation_by_hook(model, layer, head, src, src_head):
    """Subtract R^l[h, l', h'] * raw_{l', h'} from the mixed K and V of head h via hooks."""
    raws = {}
    coeff = model.blocks[layer].lime.route[head, src, src_head].detach()

    def keep(t, hook):
        raws[hook.name] = t

    def ablate(t, hook):
        kind = "k" if hook.name.endswith("hook_k") else "v"
        t = t.clone()
        t[:, :, head] -= coeff * raws[f"blocks.{src}.attn.hook_{kind}_raw"][:, :, src_head]
        return t

    return [
        (f"blocks.{src}.attn.hook_k_raw", keep),
        (f"blocks.{src}.attn.hook_v_raw", keep),
        (f"blocks.{layer}.attn.hook_k", ablate),
        (f"blocks.{layer}.attn.hook_v", ablate),
    ]


@pytest.mark.parametrize("arch", CFGS)
def test_zeroing_a_kv_routing_entry_equals_the_same_ablation_through_hooks(arch):
    model = build(CFGS[arch]())
    toks = tokens()
    layer, head, src, src_head = 2, 1, 0, 0
    via_k_v_hooks = model.run_with_hooks(
        toks, fwd_hooks=_kv_entry_ablation_by_hook(model, layer, head, src, src_head)
    )

    def zero_route_entry(route, hook):
        route = route.clone()
        route[:, head, src, src_head] = 0.0
        return route

    via_route_hook = model.run_with_hooks(
        toks, fwd_hooks=[(f"blocks.{layer}.lime.hook_route", zero_route_entry)]
    )
    with torch.no_grad():
        model.blocks[layer].lime.route[head, src, src_head] = 0.0
    via_weights = model(toks)
    assert_close(via_route_hook, via_weights, atol=1e-6, rtol=1e-6)
    assert_close(via_k_v_hooks, via_weights, atol=1e-5, rtol=1e-5)


def test_pruning_a_residual_route_entry_equals_the_same_ablation_through_hook():
    """Softmax lookups: a -inf logit == zeroing that weight in hook_route and renormalising."""
    model = build(gpt2_cfg(lime_mode="residual"))
    toks = tokens()

    def zero_entry_and_renormalise(w, hook):
        w = w.clone()
        w[:, 1, 0] = 0.0
        return w / w.sum(-1, keepdim=True)

    via_hook = model.run_with_hooks(
        toks, fwd_hooks=[("blocks.2.lime.hook_route", zero_entry_and_renormalise)]
    )
    with torch.no_grad():
        model.blocks[2].lime.route[1, 0] = float("-inf")
    assert_close(via_hook, model(toks), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("start", [1, 2, -1])
def test_start_at_layer_past_zero_raises_clearly(start):
    model = build(llama_cfg())
    resid = torch.zeros(1, 3, model.cfg.d_model)
    with pytest.raises(ValueError, match="start_at_layer"):
        model(resid, start_at_layer=start)


def test_start_at_layer_zero_on_embeddings_equals_full_forward():
    model = build(gpt2_cfg())
    toks = tokens()
    resid, *_ = model.input_to_embed(toks)
    assert_close(model(resid, start_at_layer=0), model(toks))


def test_stop_at_layer_returns_that_layers_resid_pre():
    model = build(llama_cfg())
    toks = tokens()
    _, cache = model.run_with_cache(toks)
    assert_close(model(toks, stop_at_layer=2), cache["blocks.2.hook_resid_pre"])


def test_loss_and_both_return_types_match_the_logits():
    model = build(llama_cfg())
    toks = tokens()
    logits, loss = model(toks, return_type="both")
    expected = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), toks[:, 1:].reshape(-1)
    )
    assert_close(loss, expected)
    assert_close(model(toks, return_type="loss"), expected)


def test_residual_stream_decomposition_still_sums_to_resid_post():
    model = build(llama_cfg())
    _, cache = model.run_with_cache(tokens())
    parts = cache.decompose_resid(layer=model.cfg.n_layers, return_labels=False)
    assert_close(
        parts.sum(0),
        cache[f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"],
        atol=1e-5,
        rtol=1e-5,
    )


def test_vanilla_config_is_refused():
    with pytest.raises(ValueError, match="LIMeConfig"):
        HookedLIMeTransformer(
            HookedTransformerConfig(
                n_layers=1, d_model=8, d_head=4, n_ctx=8, d_vocab=5, act_fn="relu"
            )
        )

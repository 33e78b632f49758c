import pytest
import torch

from lime_lens.analysis.states import collect_states, hook_names_for

from .helpers import random_tokens, tiny_lime, tiny_vanilla


def test_vanilla_pre_and_post_routing_values_are_both_hook_v():
    model, tokens = tiny_vanilla(), random_tokens()
    pre, post = (
        collect_states(model, tokens, "values_pre"),
        collect_states(model, tokens, "values_post"),
    )
    _, cache = model.run_with_cache(tokens)
    for layer in range(model.cfg.n_layers):
        assert hook_names_for(model, "values_pre", layer) == [f"blocks.{layer}.attn.hook_v"]
        torch.testing.assert_close(pre[layer], cache["v", layer].flatten(2))
        torch.testing.assert_close(post[layer], pre[layer])


def test_resid_states_are_resid_post_before_final_norm():
    model, tokens = tiny_vanilla(), random_tokens()
    states = collect_states(model, tokens, "resid", batch_size=4)
    _, cache = model.run_with_cache(tokens)
    for layer in range(model.cfg.n_layers):
        torch.testing.assert_close(states[layer], cache["resid_post", layer])


def test_unknown_state_kind_raises_naming_the_choices(unchecked):
    with pytest.raises(ValueError, match="values_pre"):
        hook_names_for(tiny_vanilla(), "values", 0)


def test_kv_model_pre_routing_values_are_hook_v_raw_and_post_routing_are_hook_v():
    model, tokens = tiny_lime("kv", gqa=True), random_tokens()
    pre, post = (
        collect_states(model, tokens, "values_pre"),
        collect_states(model, tokens, "values_post"),
    )
    _, cache = model.run_with_cache(tokens)
    for layer in range(model.cfg.n_layers):
        torch.testing.assert_close(pre[layer], cache[f"blocks.{layer}.attn.hook_v_raw"].flatten(2))
        torch.testing.assert_close(post[layer], cache[f"blocks.{layer}.attn.hook_v"].flatten(2))


@pytest.mark.parametrize("gqa", [False, True])
def test_residual_model_pre_routing_values_equal_hook_v_when_routes_read_only_own_input(gqa):
    """values_pre = ln1(resid_pre) W_V + b_V: what hook_v is once every route is one-hot on S_l."""
    model, tokens = tiny_lime("residual", "static", gqa=gqa), random_tokens()
    with torch.no_grad():
        for layer in range(1, model.cfg.n_layers):
            lime = model.blocks[layer].lime
            lime.route.fill_(-1e4)
            lime.route[:, -1] = 0.0
            lime.ln.load_state_dict(model.blocks[layer].ln1.state_dict())
    pre, post = (
        collect_states(model, tokens, "values_pre"),
        collect_states(model, tokens, "values_post"),
    )
    for layer in range(model.cfg.n_layers):
        torch.testing.assert_close(pre[layer], post[layer])

import pytest
import torch

from lime_lens.analysis.routing import mean_abs_routes, routing_heatmaps_for

from .helpers import LIME_VARIANTS, random_tokens, tiny_lime, tiny_vanilla


@pytest.mark.parametrize("mode,lookup", LIME_VARIANTS)
@pytest.mark.parametrize("gqa", [False, True])
def test_heatmap_rows_sum_to_one_over_existing_sources_and_are_nan_above(mode, lookup, gqa):
    model = tiny_lime(mode, lookup, gqa=gqa)
    maps = routing_heatmaps_for(model, random_tokens())
    L = model.cfg.n_layers
    lower = torch.tril(torch.ones(L, L, dtype=torch.bool))
    torch.testing.assert_close(maps.per_layer.nan_to_num().sum(-1), torch.ones(L))
    torch.testing.assert_close(
        maps.per_head.nan_to_num().sum(-1), torch.ones(L, model.cfg.n_key_value_heads or 4)
    )
    assert (
        torch.isnan(maps.per_layer[~lower]).all() and not torch.isnan(maps.per_layer[lower]).any()
    )
    assert (maps.per_head[~torch.isnan(maps.per_head)] >= 0).all()


def test_kv_heatmap_equals_abs_route_parameter_averaged_over_heads_then_normalised():
    """Paper Fig. 5: |R^l| averaged over (target, source) heads per source layer, normalised."""
    model = tiny_lime("kv", gqa=True)
    maps = routing_heatmaps_for(model)
    for layer in range(1, model.cfg.n_layers):
        a = model.blocks[layer].lime.route.detach().abs().mean(dim=(0, 2))  # [n_src]
        torch.testing.assert_close(maps.per_layer[layer, : layer + 1], a / a.sum())
        per_head = model.blocks[layer].lime.route.detach().abs().mean(-1)  # [n_kv, n_src]
        torch.testing.assert_close(
            maps.per_head[layer, :, : layer + 1], per_head / per_head.sum(-1, keepdim=True)
        )


def test_kv_mean_abs_routes_per_source_head_is_abs_route_parameter():
    model = tiny_lime("kv", gqa=True)
    routes = mean_abs_routes(model, per_source_head=True)
    for layer in range(1, model.cfg.n_layers):
        torch.testing.assert_close(routes[layer], model.blocks[layer].lime.route.detach().abs())


def test_static_residual_heatmap_per_head_equals_softmax_of_route_logits():
    model = tiny_lime("residual", "static")
    maps = routing_heatmaps_for(model)
    for layer in range(1, model.cfg.n_layers):
        torch.testing.assert_close(
            maps.per_head[layer, :, : layer + 1],
            model.blocks[layer].lime.route.detach().softmax(-1),
        )


def test_dynamic_router_mean_weights_equal_mean_softmax_of_router_over_every_corpus_token():
    model, tokens = tiny_lime("residual", "dynamic"), random_tokens(n_seq=5)
    prior = mean_abs_routes(model, tokens, batch_size=2)
    _, cache = model.run_with_cache(tokens)
    for layer in range(1, model.cfg.n_layers):
        lime = model.blocks[layer].lime
        logits = lime.route_proj(lime.ln(cache["resid_pre", layer])).view(
            *tokens.shape, -1, layer + 1
        )
        torch.testing.assert_close(prior[layer], logits.softmax(-1).mean(dim=(0, 1)).detach())


def test_dynamic_router_mean_weights_need_a_corpus():
    with pytest.raises(ValueError, match="tokens"):
        mean_abs_routes(tiny_lime("residual", "dynamic"))


def test_routing_analysis_of_a_vanilla_model_raises_clearly():
    with pytest.raises(ValueError, match="LIMe"):
        routing_heatmaps_for(tiny_vanilla())

import pytest
import torch

from lime_lens.analysis.attribution import corpus_loss, decompose_kv_input, route_ablation_table

from .helpers import LIME_VARIANTS, random_tokens, tiny_lime


@pytest.mark.parametrize("which", ["k", "v"])
@pytest.mark.parametrize("gqa", [False, True])
def test_kv_decomposition_sums_exactly_to_the_hooked_mixed_kv(which, gqa):
    model, tokens = tiny_lime("kv", gqa=gqa), random_tokens()
    n_kv = model.cfg.n_key_value_heads or model.cfg.n_heads
    _, cache = model.run_with_cache(tokens)
    for layer in range(1, model.cfg.n_layers):
        for head in range(n_kv):
            parts, total = decompose_kv_input(model, tokens, layer, head, which)
            assert parts.shape == (*tokens.shape, layer + 1, n_kv, model.cfg.d_head)
            torch.testing.assert_close(
                total, cache[f"blocks.{layer}.attn.hook_{which}"][:, :, head]
            )
            torch.testing.assert_close(parts.sum(dim=(2, 3)), total)


@pytest.mark.parametrize("lookup", ["static", "top_p", "dynamic"])
def test_residual_decomposition_sums_exactly_to_the_hooked_kv_input(lookup):
    model, tokens = tiny_lime("residual", lookup), random_tokens()
    _, cache = model.run_with_cache(tokens)
    for layer in range(1, model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            parts, total = decompose_kv_input(model, tokens, layer, head)
            assert parts.shape == (*tokens.shape, layer + 1, model.cfg.d_model)
            torch.testing.assert_close(total, cache[f"blocks.{layer}.lime.hook_kv_in"][:, :, head])
            torch.testing.assert_close(parts.sum(2), total)


def test_kv_decomposition_source_part_equals_route_times_raw_kv_of_that_layer():
    model, tokens = tiny_lime("kv"), random_tokens()
    parts, _ = decompose_kv_input(model, tokens, layer=2, head=1, which="v")
    _, cache = model.run_with_cache(tokens)
    R = model.blocks[2].lime.route.detach()
    expected = torch.einsum("g,bpgd->bpgd", R[1, 0], cache["blocks.0.attn.hook_v_raw"])
    torch.testing.assert_close(parts[:, :, 0], expected)


@pytest.mark.parametrize("source_head", [None, 1])
def test_ablating_a_kv_route_via_the_hook_equals_zeroing_the_routing_parameter(source_head):
    model, tokens = tiny_lime("kv", gqa=True), random_tokens()
    table = route_ablation_table(
        model,
        tokens,
        granularity="source_head" if source_head is not None else "source_layer",
        batch_size=4,
    )
    row = table[(table.layer == 2) & (table["head"] == 0) & (table.source == 1)]
    if source_head is not None:
        row = row[row.source_head == source_head]
    assert len(row) == 1
    expected_weight = model.blocks[2].lime.route.detach()[0, 1].abs()
    expected_weight = (
        expected_weight.mean() if source_head is None else expected_weight[source_head]
    )
    torch.testing.assert_close(row.weight.item(), expected_weight.item())
    with torch.no_grad():
        model.blocks[2].lime.route[0, 1, slice(None) if source_head is None else source_head] = 0
    torch.testing.assert_close(row.ablated_loss.item(), corpus_loss(model, tokens, batch_size=3))


@pytest.mark.parametrize("mode,lookup", LIME_VARIANTS)
def test_ablation_table_lists_every_route_once_ranked_by_loss_increase(mode, lookup):
    model, tokens = tiny_lime(mode, lookup), random_tokens(n_seq=3)
    table = route_ablation_table(model, tokens)
    n_kv = model.cfg.n_heads
    assert len(table) == n_kv * sum(layer + 1 for layer in range(1, model.cfg.n_layers))
    assert not table.duplicated(["layer", "head", "source"]).any()
    assert table.delta_loss.is_monotonic_decreasing
    torch.testing.assert_close(table.clean_loss.iloc[0], model(tokens, return_type="loss").item())


def test_ablating_the_self_route_of_a_one_hot_kv_router_equals_removing_that_heads_kv():
    """With R one-hot on the current layer, zeroing head h's self route zeroes its mixed K and V."""
    model, tokens = tiny_lime("kv"), random_tokens()
    with torch.no_grad():
        for layer in range(1, 3):
            route = model.blocks[layer].lime.route
            route.zero_()
            route[:, -1] = torch.eye(model.cfg.n_heads)
    table = route_ablation_table(model, tokens, layers=[2])
    row = table[(table["head"] == 3) & (table.source == 2)]

    def zero_head(act, hook):
        act = act.clone()
        act[:, :, 3] = 0
        return act

    hooks = [("blocks.2.attn.hook_k", zero_head), ("blocks.2.attn.hook_v", zero_head)]
    torch.testing.assert_close(row.ablated_loss.item(), corpus_loss(model, tokens, hooks))

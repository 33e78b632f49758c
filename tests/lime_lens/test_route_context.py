"""The K/V route reaches the attention as an argument (``attn(..., route=KVRoute(memory, router))``),
leaves no state on the module, and one mixin gives both LIMe attention classes their behaviour."""

import inspect

import pytest
import torch
from lime_helpers import build, llama_cfg, tokens
from torch.testing import assert_close

from lime_lens.attention import LIMeAttention, LIMeAttentionMixin, LIMeGroupedQueryAttention
from lime_lens.route_context import KVRoute, LIMeMemory
from lime_lens.routers.kv import to_heads_major
from lime_lens.tl.fused_attention import FusedAttention
from lime_lens.tl.internals import AbstractAttention
from lime_lens.tl.vanilla_attention import SDPAAttention, SDPAGroupedQueryAttention

LAYER = 2


def _layer_inputs(model, layer):
    """The model's own ln1 output at ``layer`` and the raw K/V of every layer, from one run."""
    wanted = ("hook_k_raw", "hook_v_raw", "hook_resid_pre", "hook_attn_out")  # no pattern hook
    _, cache = model.run_with_cache(tokens(), names_filter=lambda name: name.endswith(wanted))
    raws = [
        (cache[f"blocks.{i}.attn.hook_k_raw"], cache[f"blocks.{i}.attn.hook_v_raw"])
        for i in range(layer + 1)
    ]
    return cache, model.blocks[layer].ln1(cache[f"blocks.{layer}.hook_resid_pre"]), raws


@pytest.mark.parametrize("attn_impl", ["explicit", "sdpa"])
def test_an_attention_called_with_a_route_reproduces_the_models_layer(attn_impl):
    model = build(llama_cfg(attn_impl=attn_impl))
    cache, q_in, raws = _layer_inputs(model, LAYER)
    memory = LIMeMemory(kv_buffers=[to_heads_major(k, v) for k, v in raws[:LAYER]])
    route = KVRoute(memory, model.blocks[LAYER].lime)
    out = model.blocks[LAYER].attn(q_in, q_in, q_in, route=route)
    assert_close(out, cache[f"blocks.{LAYER}.hook_attn_out"])
    assert (
        len(memory.kv_buffers) == LAYER + 1
    )  # the route filed this layer's raw K/V for later ones
    assert torch.equal(memory.kv_buffers[-1], to_heads_major(*raws[LAYER]))


def test_a_route_without_a_router_is_the_identity_on_the_layers_own_kv():
    k, v = torch.randn(2, 5, 3, 4), torch.randn(2, 5, 3, 4)
    memory = LIMeMemory()
    routed_k, routed_v = KVRoute(memory, None)(k, v)  # layer 0 (FirstLayerRouter)
    assert routed_k is k and routed_v is v
    assert torch.equal(memory.kv_buffers[0], to_heads_major(k, v))


def test_a_routed_forward_leaves_no_state_on_the_attention_even_when_the_route_fails():
    model = build(llama_cfg())
    attn, router = model.blocks[LAYER].attn, model.blocks[LAYER].lime
    cache, q_in, raws = _layer_inputs(model, LAYER)
    attributes = dict(vars(attn))
    unrouted = attn(q_in, q_in, q_in)

    def route():
        return KVRoute(LIMeMemory([to_heads_major(k, v) for k, v in raws[:LAYER]]), router)

    def fail(weights, hook):
        raise RuntimeError("router failed")

    router.hook_route.add_hook(fail)
    with pytest.raises(RuntimeError, match="router failed"):
        attn(q_in, q_in, q_in, route=route())
    router.hook_route.remove_hooks()
    assert_close(attn(q_in, q_in, q_in, route=route()), cache[f"blocks.{LAYER}.hook_attn_out"])
    assert dict(vars(attn)) == attributes
    assert_close(attn(q_in, q_in, q_in), unrouted)  # no route left over from the calls above
    assert not torch.allclose(unrouted, cache[f"blocks.{LAYER}.hook_attn_out"])  # routing matters


def test_transformer_lens_hands_its_inputs_untouched_to_calculate_qkv_matrices():
    # The route travels inside the key input (RoutedKeyInput); this holds while the stock forward
    # passes its three inputs straight through and reads them nowhere else.
    source = inspect.getsource(AbstractAttention.forward)
    call = "self.calculate_qkv_matrices(query_input, key_input, value_input)"
    body = source[source.index('"""', source.index('"""') + 3) + 3 :]
    assert body.count(call) == 1
    rest = body.replace(call, "")
    assert not any(name in rest for name in ("query_input", "key_input", "value_input"))


def test_one_mixin_holds_the_behaviour_of_both_lime_and_both_vanilla_classes():
    for cls, parent in [
        (LIMeAttention, "Attention"),
        (LIMeGroupedQueryAttention, "GroupedQueryAttention"),
    ]:
        assert cls.__mro__[1:4] == (LIMeAttentionMixin, FusedAttention, cls.__mro__[3])
        assert cls.__mro__[3].__name__ == parent
        assert not {"forward", "calculate_qkv_matrices", "__init__"} & set(vars(cls))
    for cls in (SDPAAttention, SDPAGroupedQueryAttention):
        assert cls.__mro__[1] is FusedAttention
        assert not {"forward", "__init__"} & set(vars(cls))


def test_a_lime_attentions_attn_impl_is_the_models_config_field():
    model = build(llama_cfg())
    model.blocks[1].attn.attn_impl = "explicit"
    assert model.cfg.attn_impl == "explicit"
    assert all(block.attn.attn_impl == "explicit" for block in model.blocks)

"""Pins every TransformerLens internal that lime_lens.tl.internals names (see its docstring), so a
TransformerLens upgrade that moves one fails here, in one place."""

import inspect

import pytest
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from lime_lens.tl import internals as tl


def _cfg(**overrides):
    kwargs = dict(
        n_layers=2,
        d_model=16,
        d_head=4,
        n_heads=4,
        d_mlp=32,
        d_vocab=11,
        n_ctx=8,
        act_fn="gelu",
        normalization_type="LN",
        device="cpu",
        seed=0,
    )
    kwargs.update(overrides)
    return HookedTransformerConfig(**kwargs)


def _params(fn) -> tuple[str, ...]:
    return tuple(inspect.signature(fn).parameters)[1:]  # after self


def test_calculate_qkv_matrices_is_the_override_point_with_its_argument_order():
    for cls in (tl.Attention, tl.GroupedQueryAttention):
        assert _params(getattr(cls, tl.QKV_OVERRIDE)) == tl.QKV_ARGS
    forward = inspect.getsource(tl.Attention.__mro__[1].forward)  # AbstractAttention.forward
    assert f"self.{tl.QKV_OVERRIDE}({', '.join(tl.QKV_ARGS)})" in forward
    assert "past_kv_cache_entry.append(k, v)" in forward  # routed K/V are what gets cached
    assert _params(tl.Attention.__mro__[1]._apply_qk_norm) == ("x", "norm_module")


def test_grouped_query_attention_keeps_private_kv_parameters_at_n_kv_heads():
    attn = tl.GroupedQueryAttention(_cfg(n_key_value_heads=2))
    assert tuple(attn._W_K.shape) == tuple(attn._W_V.shape) == (2, 16, 4)
    assert tuple(attn._b_K.shape) == tuple(attn._b_V.shape) == (2, 4)
    assert tuple(attn.W_K.shape) == (4, 16, 4)  # the public one is expanded to n_heads
    assert torch.equal(attn.W_K[1], attn._W_K[0])  # repeat_interleave: heads 0, 1 share KV head 0
    W_K, b_K, W_V, b_V = tl.kv_weights(attn)
    assert W_K is attn._W_K and b_V is attn._b_V and tl.value_bias(attn) is attn._b_V
    assert {"_W_K", "_W_V", "_b_K", "_b_V"} <= {n for n, _ in attn.named_parameters()}


def test_full_attention_kv_parameters_are_public():
    attn = tl.Attention(_cfg())
    assert tl.kv_weights(attn)[0] is attn.W_K and tl.value_bias(attn) is attn.b_V


def test_kv_state_dict_prefix_matches_the_models_keys():
    for n_kv in (None, 2):
        model = HookedTransformer(_cfg(n_key_value_heads=n_kv))
        prefix = "blocks.1." + tl.kv_param_prefix(n_kv)
        assert {prefix + k for k in ("W_K", "W_V", "b_K", "b_V")} <= set(model.state_dict())


def test_block_skeleton_has_the_attributes_the_lime_block_uses():
    block = tl.TransformerBlock(_cfg(), 0)
    for name in tl.BLOCK_ATTRIBUTES:
        assert hasattr(block, name), name
    assert _params(tl.TransformerBlock.__init__) == ("cfg", "block_index")
    assert "TransformerBlock(" in inspect.getsource(HookedTransformer.__init__)


def test_forward_skeleton_and_hook_check_signature():
    model = HookedTransformer(_cfg())
    for name in tl.MODEL_MEMBERS:
        assert hasattr(model, name), name
    assert isinstance(model.blocks, tl.TypedModuleList)
    assert _params(HookedTransformer.check_hooks_to_add) == tl.CHECK_HOOKS_TO_ADD_ARGS
    assert "input" in _params(HookedTransformer.input_to_embed)
    assert {"prepend_bos", "padding_side", "attention_mask", "past_kv_cache"} <= set(
        _params(HookedTransformer.input_to_embed)
    )
    assert tl.Output._fields == ("logits", "loss")
    assert callable(tl.get_device_for_block_index) and callable(tl.apply_softcap)
    assert _params(tl.LocallyOverridenDefaults.__init__)[0] == "model"
    assert hasattr(tl.TransformerLensKeyValueCacheEntry, "append")
    assert hasattr(tl.TransformerLensKeyValueCache, "__getitem__")


def test_weight_processing_keys_fill_missing_keys_and_pre_norm_swap():
    model = HookedTransformer(_cfg())
    keys = set(model.state_dict())
    assert {"blocks.1.ln1.w", "blocks.1.ln1.b", "blocks.1.attn.W_Q", "blocks.1.attn.b_Q"} <= keys
    assert "self.fill_missing_keys(state_dict)" in inspect.getsource(
        HookedTransformer.load_and_process_state_dict
    )
    model.process_weights_(fold_ln=True)
    assert model.cfg.normalization_type == "LNPre"
    assert isinstance(model.blocks[1].ln1, tl.LayerNormPre)


@pytest.mark.parametrize("norm", ["LN", "LNPre", "RMS", "RMSPre"])
def test_norm_classes_take_the_config(norm):
    cls = {
        "LN": tl.LayerNorm,
        "LNPre": tl.LayerNormPre,
        "RMS": tl.RMSNorm,
        "RMSPre": tl.RMSNormPre,
    }[norm]
    assert cls(_cfg(normalization_type=norm))(torch.randn(2, 3, 16)).shape == (2, 3, 16)


def test_attention_linear_helpers_and_post_norm_list():
    x, W, b = torch.randn(2, 3, 16), torch.randn(4, 16, 5), torch.randn(4, 5)
    assert tl.simple_attn_linear(x, W, b).shape == (2, 3, 4, 5)
    assert tl.complex_attn_linear(torch.randn(2, 3, 4, 16), W, b).shape == (2, 3, 4, 5)
    assert "Olmo2ForCausalLM" in tl.POST_NORM_ARCHITECTURES  # the set LIMeConfig refuses
    assert tl.USE_DEFAULT_VALUE is None  # forward's "use the model default" sentinel


def test_run_with_cache_builds_its_hooks_through_get_caching_hooks():
    from transformer_lens.HookedRootModule import HookedRootModule

    assert _params(HookedRootModule.get_caching_hooks) == tl.GET_CACHING_HOOKS_ARGS
    assert "self.get_caching_hooks(" in inspect.getsource(HookedRootModule.run_with_cache)
    model = HookedTransformer(_cfg())
    cache, fwd, bwd = model.get_caching_hooks(
        ["blocks.0.hook_resid_pre"], incl_bwd=True, pos_slice=tl.Slice.unwrap(1)
    )
    assert isinstance(cache, dict) and [name for name, _ in fwd] == ["blocks.0.hook_resid_pre"]
    assert [name for name, _ in bwd] == ["blocks.0.hook_resid_pre"] and callable(fwd[0][1])
    model.run_with_hooks(torch.zeros(1, 3, dtype=torch.long), fwd_hooks=fwd)
    assert cache["blocks.0.hook_resid_pre"].shape == (1, 1, 16)  # an int keeps its axis


def test_slice_unwrap_and_apply():
    x = torch.arange(24).reshape(2, 3, 4)
    assert torch.equal(tl.Slice.unwrap(1).apply(x, dim=1), x[:, [1]])  # int: the axis stays
    assert torch.equal(tl.Slice.unwrap((1, 3)).apply(x, dim=2), x[:, :, 1:3])
    assert torch.equal(tl.Slice.unwrap([0, 2]).apply(x, dim=-2), x[:, [0, 2]])
    assert tl.Slice.unwrap(tl.Slice((1, 3))).slice == slice(1, 3)


def test_model_switches_are_the_set_methods_writing_their_config_field():
    setters = {  # HookedTransformer's own, not nn.Module's set_submodule / set_extra_state
        name.removeprefix("set_")
        for name in vars(HookedTransformer)
        if name.startswith("set_") and name != "set_tokenizer"
    }
    assert setters == set(tl.MODEL_SWITCHES)  # a new TransformerLens switch needs a LIMe decision
    for switch in tl.MODEL_SWITCHES:
        model = HookedTransformer(_cfg())
        getattr(model, f"set_{switch}")(True)
        assert getattr(model.cfg, switch) is True


def test_attention_forward_signature_and_the_steps_the_fused_path_replaces():
    abstract = tl.AbstractAttention
    assert _params(abstract.forward) == tl.ATTENTION_FORWARD_ARGS
    source = inspect.getsource(abstract.forward)
    steps = [
        "self.calculate_qkv_matrices(",
        "past_kv_cache_entry.append(k, v)",
        "self.hook_rot_k(",
        "self.calculate_attention_scores(",
        "self.apply_causal_mask(",
        "self.hook_attn_scores(",
        "self.hook_pattern(",
        "self.calculate_z_scores(",
        "self.hook_result(",
    ]
    positions = [source.index(step) for step in steps]
    assert positions == sorted(positions)  # the order lime_lens.tl.fused_attention reproduces
    assert "self.hook_z(" in inspect.getsource(abstract.calculate_z_scores)
    assert "(self._attention_dir_override or self.cfg.attention_dir)" in source
    for arch in tl.EXPLICIT_ONLY_ARCHITECTURES:  # QK-norm applied inline by the stock forward
        assert f'"{arch}"' in source


def test_attention_direction_reads_the_override_first():
    attn = tl.Attention(_cfg())
    assert tl.attention_direction(attn) == "causal"
    attn._attention_dir_override = "bidirectional"
    assert tl.attention_direction(attn) == "bidirectional"
    assert tl.attention_direction(tl.Attention(_cfg(attention_dir="bidirectional"))) == (
        "bidirectional"
    )


def test_hook_is_attached_sees_every_way_a_hook_is_added():
    from transformer_lens.hook_points import HookPoint

    point = HookPoint()
    assert not tl.hook_is_attached(point)
    point.add_hook(lambda x, hook: None)
    assert tl.hook_is_attached(point)
    point.remove_hooks("fwd")
    assert not tl.hook_is_attached(point)
    point.add_hook(lambda g, hook: None, dir="bwd")
    assert tl.hook_is_attached(point)
    point.remove_hooks("bwd")
    handle = point.register_forward_hook(lambda m, i, o: None)  # raw PyTorch hook
    assert tl.hook_is_attached(point)
    handle.remove()
    assert not tl.hook_is_attached(point)
    assert tl.hook_is_attached(torch.nn.Identity())  # a module spliced in place of the HookPoint


def test_softcap_enabled_is_false_for_the_default_cap():
    assert not tl.softcap_enabled(_cfg().attn_scores_soft_cap)
    assert tl.softcap_enabled(30.0)


def test_gated_mlp_and_unembed_pass_a_contiguous_transpose_of_the_linear_weights_to_f_linear():
    """The copy ``store_linear_weights_transposed`` makes free: each weight in LINEAR_WEIGHTS
    reaches F.linear as ``W.T.contiguous()``."""
    for cls, names in tl.LINEAR_WEIGHTS.items():
        source = inspect.getsource(cls.forward)
        for name in names:
            assert f"self.{name}.T.contiguous()" in source, (cls.__name__, name)

"""TransformerLens' ``set_*`` switches on a LIMe model: the ones whose hooks the LIMe block cannot
fire (``use_split_qkv_input``, ``use_attn_in``, ``ungroup_grouped_query_attention``) raise a
ValueError naming the switch, after construction as at construction; the others keep working."""

import pytest
import torch
from lime_helpers import MODES, build, gpt2_cfg, llama_cfg, tokens
from torch.testing import assert_close

from lime_lens.config import _UNSUPPORTED_FLAGS
from lime_lens.tl import internals as tl
from lime_lens.tl.switches import REFUSED_SWITCHES

HONOURED = ("use_attn_result", "use_hook_mlp_in")
CFGS = {"gpt2": gpt2_cfg, "llama-gqa": llama_cfg}


def _model(cfg_name, mode=MODES[0]):
    return build(CFGS[cfg_name](lime_mode=mode[0], lime_lookup=mode[1]))


def test_every_transformer_lens_switch_is_either_refused_or_honoured():
    assert set(REFUSED_SWITCHES) | set(HONOURED) == set(tl.MODEL_SWITCHES)
    assert not set(REFUSED_SWITCHES) & set(HONOURED)
    assert set(REFUSED_SWITCHES) <= set(_UNSUPPORTED_FLAGS)  # refused at construction too
    assert not set(HONOURED) & set(_UNSUPPORTED_FLAGS)


@pytest.mark.parametrize("cfg_name", CFGS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("switch", sorted(REFUSED_SWITCHES))
def test_turning_a_refused_switch_on_raises_naming_it_and_changes_nothing(cfg_name, mode, switch):
    model, toks = _model(cfg_name, mode), tokens()
    before = model(toks)
    with pytest.raises(ValueError, match=f"{switch}=True is not supported"):
        getattr(model, f"set_{switch}")(True)
    assert getattr(model.cfg, switch) is False
    assert_close(model(toks), before, atol=0, rtol=0)


@pytest.mark.parametrize("cfg_name", CFGS)
@pytest.mark.parametrize("switch", sorted(REFUSED_SWITCHES))
def test_turning_a_refused_switch_off_is_allowed(cfg_name, switch):
    model, toks = _model(cfg_name), tokens()
    before = model(toks)
    getattr(model, f"set_{switch}")(False)  # under GQA too, where vanilla set_use_attn_in asserts
    assert getattr(model.cfg, switch) is False
    assert_close(model(toks), before, atol=0, rtol=0)


@pytest.mark.parametrize("switch", sorted(REFUSED_SWITCHES))
def test_a_refused_switch_written_into_cfg_raises_at_the_next_forward(switch):
    model, toks = _model("llama-gqa"), tokens()
    setattr(model.cfg, switch, True)
    with pytest.raises(ValueError, match=f"{switch}=True is not supported"):
        model(toks)


@pytest.mark.parametrize("switch", ["use_split_qkv_input", "use_attn_in"])
def test_the_refused_switches_are_refused_at_construction_too(switch):
    with pytest.raises(ValueError, match=switch):
        gpt2_cfg(**{switch: True})


@pytest.mark.parametrize("cfg_name", CFGS)
@pytest.mark.parametrize("mode", MODES)
def test_use_attn_result_fires_hook_result_summing_to_attn_out(cfg_name, mode):
    model, toks = _model(cfg_name, mode), tokens()
    before = model(toks)
    model.set_use_attn_result(True)
    fired = []
    model.add_hook("blocks.2.attn.hook_result", lambda x, hook: fired.append(hook.name))
    logits, cache = model.run_with_cache(toks)
    model.reset_hooks()
    assert fired == ["blocks.2.attn.hook_result"]
    for layer in range(model.cfg.n_layers):
        result = cache[f"blocks.{layer}.attn.hook_result"]  # [batch, pos, n_heads, d_model]
        assert result.shape == (*toks.shape, model.cfg.n_heads, model.cfg.d_model)
        b_O = model.blocks[layer].attn.b_O
        assert_close(
            result.sum(2) + b_O, cache[f"blocks.{layer}.hook_attn_out"], atol=1e-5, rtol=1e-5
        )
    assert_close(logits, before, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cfg_name", CFGS)
@pytest.mark.parametrize("mode", MODES)
def test_use_hook_mlp_in_fires_and_a_patch_there_reaches_the_logits(cfg_name, mode):
    model, toks = _model(cfg_name, mode), tokens()
    before = model(toks)
    model.set_use_hook_mlp_in(True)
    _, cache = model.run_with_cache(toks)
    assert_close(cache["blocks.1.hook_mlp_in"], cache["blocks.1.hook_resid_mid"], atol=0, rtol=0)
    model.add_hook("blocks.1.hook_mlp_in", lambda x, hook: torch.zeros_like(x))
    patched = model(toks)
    model.reset_hooks()
    assert not torch.allclose(patched, before, atol=1e-3)
    assert_close(model(toks), before, atol=0, rtol=0)

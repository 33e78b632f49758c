"""TransformerLens weight processing on LIMe: exact where allowed, a clear error where not."""

import copy

import pytest
import torch
from lime_helpers import build, gpt2_cfg, llama_cfg, tokens
from torch.testing import assert_close
from transformer_lens import HookedTransformer

CFGS = {"llama_gqa": llama_cfg, "gpt2": gpt2_cfg}


def _log_probs(model, toks):
    with torch.no_grad():
        return model(toks).log_softmax(-1)


@pytest.mark.parametrize("arch", CFGS)
def test_kv_mode_fold_ln_center_and_routed_value_bias_fold_keep_log_probs(arch):
    model = build(CFGS[arch]())
    toks = tokens()
    before = _log_probs(model, toks)
    model.process_weights_(fold_ln=True, center_writing_weights=True, center_unembed=True)
    assert model.cfg.normalization_type in ("LNPre", "RMSPre")
    assert all(block.attn.b_V.abs().max() == 0 for block in model.blocks)  # biases really folded
    assert_close(_log_probs(model, toks), before, atol=1e-4, rtol=0)


@pytest.mark.parametrize("arch", CFGS)
def test_stock_processing_would_corrupt_a_kv_model_so_the_override_matters(arch):
    model = build(CFGS[arch]())
    toks = tokens()
    before = _log_probs(model, toks)
    HookedTransformer.load_and_process_state_dict(
        model, model.state_dict()
    )  # stock value-bias fold
    assert (_log_probs(model, toks) - before).abs().max() > 1e-2


@pytest.mark.parametrize("arch", CFGS)
@pytest.mark.parametrize("lookup", ["static", "dynamic"])
def test_residual_mode_center_and_value_bias_fold_keep_log_probs(arch, lookup):
    model = build(CFGS[arch](lime_mode="residual", lime_lookup=lookup))
    toks = tokens()
    before = _log_probs(model, toks)
    model.load_and_process_state_dict(model.state_dict(), fold_ln=False)
    assert_close(_log_probs(model, toks), before, atol=1e-4, rtol=0)


# LayerNorm + dynamic is refused (test below)
FOLDABLE = [
    ("llama_gqa", "static"),
    ("llama_gqa", "dynamic"),
    ("llama_gqa", "top_p"),
    ("gpt2", "static"),
    ("gpt2", "top_p"),
]


@pytest.mark.parametrize("arch, lookup", FOLDABLE)
def test_residual_mode_lime_aware_fold_ln_and_full_processing_keep_log_probs(arch, lookup):
    model = build(CFGS[arch](lime_mode="residual", lime_lookup=lookup, lime_top_p=0.7))
    toks = tokens()
    before = _log_probs(model, toks)
    model.process_weights_()
    assert type(model.blocks[2].lime.ln).__name__ in ("LayerNormPre", "RMSNormPre")
    assert not any(
        ".ln" in name and name.endswith((".w", ".b")) for name, _ in model.named_parameters()
    )
    assert_close(_log_probs(model, toks), before, atol=1e-4, rtol=0)
    _, cache = model.run_with_cache(toks)  # the swapped norms are registered hooks again
    assert "blocks.2.lime.ln.hook_scale" in cache.keys()


def test_stock_fold_ln_would_corrupt_a_residual_model_so_the_override_matters():
    model = build(llama_cfg(lime_mode="residual"))
    toks = tokens()
    before = _log_probs(model, toks)
    HookedTransformer.load_and_process_state_dict(
        model, model.state_dict(), fold_value_biases=False
    )
    assert (_log_probs(model, toks) - before).abs().max() > 1e-2


def test_layernorm_dynamic_residual_fold_ln_is_refused_and_leaves_the_model_untouched():
    model = build(gpt2_cfg(lime_mode="residual", lime_lookup="dynamic"))
    toks = tokens()
    before = _log_probs(model, toks)
    with pytest.raises(ValueError, match="fold_ln"):
        model.process_weights_()
    assert_close(_log_probs(model, toks), before, atol=0, rtol=0)


def test_kv_mode_refactor_factored_attn_matrices_is_refused():
    model = build(gpt2_cfg())
    with pytest.raises(ValueError, match="refactor_factored_attn_matrices"):
        model.process_weights_(refactor_factored_attn_matrices=True)


def test_processing_a_state_dict_without_router_weights_raises():
    model = build(llama_cfg())
    state = {k: v for k, v in model.state_dict().items() if k != "blocks.2.lime.route"}
    with pytest.raises(ValueError, match="blocks.2.lime.route"):
        copy.deepcopy(model).load_and_process_state_dict(state)

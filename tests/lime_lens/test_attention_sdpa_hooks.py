"""Which path each layer takes: a hook on hook_attn_scores / hook_pattern (add_hook, run_with_hooks,
run_with_cache's filter, backward) switches that layer to the explicit path, whose pattern is then
exact; attn_impl forces a path, and bad values or a forced path that would skip a hook raise."""

import pytest
import torch
from lime_helpers import build, gpt2_cfg, llama_cfg, tokens, vanilla_twin
from sdpa_helpers import spy_fused_layers
from torch.testing import assert_close

from lime_lens import LIMeConfig
from lime_lens.serialization import config_from_json_dict, config_to_json_dict
from lime_lens.tl.vanilla_attention import use_fused_attention

BUILDERS = {
    "lime-kv": lambda: build(llama_cfg(lime_mode="kv")),
    "lime-residual": lambda: build(llama_cfg(lime_mode="residual", lime_lookup="dynamic")),
    "vanilla": lambda: use_fused_attention(vanilla_twin(build(llama_cfg()))),
}


@pytest.mark.parametrize("name", BUILDERS)
def test_auto_fuses_every_layer_without_pattern_hooks(name, monkeypatch):
    fused_layers = spy_fused_layers(monkeypatch)
    model = BUILDERS[name]()
    model.run_with_cache(tokens(), names_filter=lambda n: n.endswith(("hook_z", "hook_rot_k")))
    assert fused_layers == [0, 1, 2, 3]


@pytest.mark.parametrize("name", BUILDERS)
def test_run_with_cache_without_filter_caches_the_patterns_of_the_explicit_path(name, monkeypatch):
    fused_layers = spy_fused_layers(monkeypatch)
    model = BUILDERS[name]()
    toks = tokens()
    logits, cache = model.run_with_cache(toks)
    assert fused_layers == []  # every layer's pattern is cached, so every layer is explicit
    use_fused_attention(model, "explicit")
    explicit_logits, explicit_cache = model.run_with_cache(toks)
    assert torch.equal(logits, explicit_logits)
    for layer in range(4):
        for hook in ("hook_attn_scores", "hook_pattern"):
            key = f"blocks.{layer}.attn.{hook}"
            assert torch.equal(cache[key], explicit_cache[key])


@pytest.mark.parametrize("name", BUILDERS)
def test_a_pattern_hook_switches_only_its_layer_and_the_pattern_is_exact(name, monkeypatch):
    fused_layers = spy_fused_layers(monkeypatch)
    model = BUILDERS[name]()
    toks = tokens()
    _, cache = model.run_with_cache(toks, names_filter="blocks.0.attn.hook_pattern")
    assert fused_layers == [1, 2, 3]
    use_fused_attention(model, "explicit")
    _, explicit = model.run_with_cache(toks, names_filter="blocks.0.attn.hook_pattern")
    assert torch.equal(cache["blocks.0.attn.hook_pattern"], explicit["blocks.0.attn.hook_pattern"])


@pytest.mark.parametrize("name", BUILDERS)
def test_a_pattern_patch_takes_effect_like_on_the_explicit_path(name):
    model = BUILDERS[name]()
    toks = tokens()

    def uniform(pattern, hook):  # ablate layer 2's pattern to uniform over the causal prefix
        causal = torch.ones_like(pattern).tril()
        return causal / causal.sum(-1, keepdim=True)

    hooks = [("blocks.2.attn.hook_pattern", uniform)]
    patched = model.run_with_hooks(toks, fwd_hooks=hooks)
    use_fused_attention(model, "explicit")
    assert_close(patched, model.run_with_hooks(toks, fwd_hooks=hooks), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(patched, model(toks), atol=1e-3)  # the patch did something


def test_add_hook_and_backward_hooks_on_the_scores_switch_their_layer(monkeypatch):
    fused_layers = spy_fused_layers(monkeypatch)
    model = BUILDERS["lime-kv"]()
    model.add_hook("blocks.1.attn.hook_attn_scores", lambda x, hook: None)
    model(tokens())
    assert fused_layers == [0, 2, 3]
    model.reset_hooks()
    fused_layers.clear()
    grads = []
    with model.hooks(bwd_hooks=[("blocks.3.attn.hook_pattern", lambda g, hook: grads.append(g))]):
        model(tokens(), return_type="loss").backward()
    assert fused_layers == [0, 1, 2] and len(grads) == 1
    fused_layers.clear()
    model(tokens())  # hooks removed: fused again
    assert fused_layers == [0, 1, 2, 3]


def test_explicit_never_fuses(monkeypatch):
    fused_layers = spy_fused_layers(monkeypatch)
    model = BUILDERS["lime-kv"]()
    use_fused_attention(model, "explicit")
    model(tokens())
    assert fused_layers == []


@pytest.mark.parametrize("name", BUILDERS)
def test_sdpa_with_a_pattern_hook_raises_naming_the_hook(name):
    model = BUILDERS[name]()
    use_fused_attention(model, "sdpa")
    with pytest.raises(ValueError, match=r"blocks\.2\.attn\.hook_pattern"):
        model.run_with_cache(tokens(), names_filter="blocks.2.attn.hook_pattern")
    model.add_hook("blocks.0.attn.hook_attn_scores", lambda x, hook: None)
    with pytest.raises(ValueError, match=r"blocks\.0\.attn\.hook_attn_scores"):
        model(tokens())


def test_unknown_attn_impl_raises_naming_the_valid_values():
    with pytest.raises(
        ValueError, match=r"attn_impl must be one of \('auto', 'explicit', 'sdpa'\)"
    ):
        llama_cfg(attn_impl="flash")
    model = BUILDERS["vanilla"]()
    with pytest.raises(ValueError, match="attn_impl must be one of"):
        use_fused_attention(model, "fused")
    lime = BUILDERS["lime-kv"]()
    lime.cfg.attn_impl = "Auto"  # written directly: caught at the next forward
    with pytest.raises(ValueError, match="attn_impl must be one of"):
        lime(tokens())


def test_attn_impl_round_trips_through_the_json_config_and_old_configs_load_as_auto():
    cfg = llama_cfg(attn_impl="explicit")
    data = config_to_json_dict(cfg)
    assert data["attn_impl"] == "explicit"
    assert config_from_json_dict(LIMeConfig, data).attn_impl == "explicit"
    del data["attn_impl"]  # a config saved before the field existed
    assert config_from_json_dict(LIMeConfig, data).attn_impl == "auto"


def test_a_feature_the_fused_call_lacks_falls_back_under_auto_and_raises_under_sdpa(monkeypatch):
    fused_layers = spy_fused_layers(monkeypatch)
    reference = vanilla_twin(build(gpt2_cfg(attn_scores_soft_cap=30.0)))  # Gemma-style cap
    model = use_fused_attention(vanilla_twin(build(gpt2_cfg(attn_scores_soft_cap=30.0))))
    assert torch.equal(model(tokens()), reference(tokens()))
    assert fused_layers == []
    use_fused_attention(model, "sdpa")
    with pytest.raises(ValueError, match="attn_scores_soft_cap"):
        model(tokens())

"""The fused (SDPA) attention path equals the explicit TransformerLens path: logits, loss, gradients
and every non-pattern hook, for LIMe (kv and residual) and vanilla models, with left padding and the
KV cache; pattern hooks switch their layer to the explicit path."""

import pytest
import torch
from lime_helpers import build, gpt2_cfg, llama_cfg, tokens, vanilla_twin
from sdpa_helpers import spy_fused_layers
from torch.testing import assert_close
from transformer_lens.cache.key_value_cache import TransformerLensKeyValueCache

from lime_lens.tl.fused_attention import PATTERN_HOOKS
from lime_lens.tl.vanilla_attention import use_fused_attention

BUILDERS = {
    "lime-kv-gqa-rotary": lambda: build(llama_cfg(lime_mode="kv")),
    "lime-residual-dynamic-gqa-rotary": lambda: build(
        llama_cfg(lime_mode="residual", lime_lookup="dynamic")
    ),
    "lime-kv-mha-ln": lambda: build(gpt2_cfg(lime_mode="kv")),
    "vanilla-gqa-rotary": lambda: use_fused_attention(vanilla_twin(build(llama_cfg()))),
    "vanilla-mha-ln": lambda: use_fused_attention(vanilla_twin(build(gpt2_cfg()))),
}
FP32 = dict(atol=1e-5, rtol=1e-5)
BF16 = dict(atol=5e-2, rtol=1.6e-2)
"""bf16 logits (|logit| <= ~3.5 here): both paths round to bf16 (8 mantissa bits) at different
points; measured max |diff| 0.043 = ~3 bf16 ulps at |logit| 2-4, median relative diff 0.7%."""


def not_pattern(name: str) -> bool:
    return not name.endswith(PATTERN_HOOKS)


def padded_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Row 0 left-padded by 3, row 1 unpadded; pad positions hold token 0."""
    toks = tokens(batch=2, pos=12)
    mask = torch.ones_like(toks)
    mask[0, :3] = 0
    toks[0, :3] = 0
    return toks, mask


def both_paths(model, fn):
    use_fused_attention(model, "explicit")
    explicit = fn()
    use_fused_attention(model, "sdpa")
    return explicit, fn()


@pytest.mark.parametrize("name", BUILDERS)
@pytest.mark.parametrize("padded", [False, True])
def test_fused_path_gives_the_explicit_logits_loss_and_every_non_pattern_hook(
    name, padded, monkeypatch
):
    fused_layers = spy_fused_layers(monkeypatch)
    model = BUILDERS[name]()
    if name.startswith("lime-kv-mha"):
        model.set_use_attn_result(True)  # hook_result fires on both paths too
    toks, mask = padded_batch() if padded else (tokens(batch=2, pos=12), None)

    def run():
        (logits, loss), cache = model.run_with_cache(
            toks, attention_mask=mask, return_type="both", names_filter=not_pattern
        )
        return logits, loss, cache

    (logits_e, loss_e, cache_e), (logits_f, loss_f, cache_f) = both_paths(model, run)
    assert fused_layers == list(range(model.cfg.n_layers))  # the sdpa run was fused everywhere
    assert_close(logits_f, logits_e, **FP32)
    assert_close(loss_f, loss_e, **FP32)
    assert cache_f.keys() == cache_e.keys()
    assert any(k.endswith("hook_z") for k in cache_f.keys())
    for key in cache_e.keys():
        assert_close(cache_f[key], cache_e[key], **FP32, msg=key)


@pytest.mark.parametrize("name", BUILDERS)
def test_fused_path_gives_the_explicit_gradients(name):
    model = BUILDERS[name]()
    toks, mask = padded_batch()

    def grads():
        model.zero_grad(set_to_none=True)
        model(toks, attention_mask=mask, return_type="loss").backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    explicit, fused_grads = both_paths(model, grads)
    assert explicit.keys() == fused_grads.keys()
    for key in explicit:
        assert_close(fused_grads[key], explicit[key], **FP32, msg=key)


def cached_logits(model, toks, mask, split):
    """Prefix in one call, then one token per call (as generate), through the KV cache."""
    cache = TransformerLensKeyValueCache.init_cache(model.cfg, model.cfg.device, toks.shape[0])
    steps = [model(toks[:, :split], past_kv_cache=cache, attention_mask=mask[:, :split])]
    for t in range(split, toks.shape[1]):
        steps.append(
            model(toks[:, t : t + 1], past_kv_cache=cache, attention_mask=mask[:, t : t + 1])
        )
    return torch.cat(steps, dim=1)


@pytest.mark.parametrize("name", BUILDERS)
def test_fused_kv_cached_logits_equal_the_explicit_full_forward_with_padding(name, monkeypatch):
    fused_layers = spy_fused_layers(monkeypatch)
    model = BUILDERS[name]()
    toks, mask = padded_batch()
    use_fused_attention(model, "explicit")
    reference = model(toks, attention_mask=mask)
    use_fused_attention(model, "sdpa")
    cached = cached_logits(model, toks, mask, split=7)
    assert len(fused_layers) == model.cfg.n_layers * (1 + 12 - 7)
    assert_close(cached[:, 3:], reference[:, 3:], **FP32)  # the real tokens of the padded row
    assert_close(cached[1], reference[1], **FP32)


@pytest.mark.parametrize("name", ["lime-kv-gqa-rotary", "lime-residual-dynamic-gqa-rotary"])
def test_greedy_generation_gives_identical_tokens_on_both_paths(name):
    model = BUILDERS[name]()
    prompt = tokens(batch=2, pos=5)
    kwargs = dict(max_new_tokens=10, do_sample=False, stop_at_eos=False, verbose=False)
    explicit, sdpa = both_paths(
        model, lambda: model.generate(prompt, use_past_kv_cache=True, **kwargs)
    )
    assert explicit.shape == (2, 15)
    assert torch.equal(sdpa, explicit)


def test_greedy_generation_of_the_vanilla_model_is_identical_on_both_paths():
    model = BUILDERS["vanilla-gqa-rotary"]()
    prompt = tokens(batch=2, pos=5)
    kwargs = dict(max_new_tokens=10, do_sample=False, stop_at_eos=False, verbose=False)
    explicit, sdpa = both_paths(
        model, lambda: model.generate(prompt, use_past_kv_cache=True, **kwargs)
    )
    assert torch.equal(sdpa, explicit)


@pytest.mark.parametrize("name", BUILDERS)
def test_bf16_fused_logits_stay_within_the_stated_bound_of_the_explicit_path(name):
    model = BUILDERS[name]().to(torch.bfloat16)
    toks, mask = padded_batch()
    explicit, sdpa = both_paths(model, lambda: model(toks, attention_mask=mask))
    assert sdpa.dtype == torch.bfloat16
    assert_close(sdpa.float(), explicit.float(), **BF16)

"""KV-cached generation: mixed K/V cached, vanilla cache size, cached == uncached logits."""

import pytest
import torch
from lime_helpers import MODES, build, gpt2_cfg, llama_cfg, tokens, vanilla_twin
from torch.testing import assert_close
from transformer_lens.cache.key_value_cache import TransformerLensKeyValueCache

CFGS = {"llama_gqa": llama_cfg, "gpt2": gpt2_cfg}


def _cached_logits(model, toks, split):
    cache = TransformerLensKeyValueCache.init_cache(model.cfg, model.cfg.device, toks.shape[0])
    mask = torch.ones_like(toks)
    first = model(toks[:, :split], past_kv_cache=cache, attention_mask=mask[:, :split])
    steps = [first]
    for t in range(split, toks.shape[1]):  # one token at a time, as generate does
        steps.append(
            model(toks[:, t : t + 1], past_kv_cache=cache, attention_mask=mask[:, t : t + 1])
        )
    return torch.cat(steps, dim=1), cache


@pytest.mark.parametrize("arch", CFGS)
@pytest.mark.parametrize("mode, lookup", MODES)
def test_cached_logits_equal_uncached_logits(arch, mode, lookup):
    model = build(CFGS[arch](lime_mode=mode, lime_lookup=lookup))
    toks = tokens(batch=2, pos=11)
    cached, _ = _cached_logits(model, toks, split=6)
    assert_close(cached, model(toks), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["kv", "residual"])
def test_kv_cache_has_the_vanilla_size_and_holds_the_mixed_kv(mode):
    model = build(llama_cfg(lime_mode=mode))
    toks = tokens(batch=2, pos=9)
    _, lime_cache = _cached_logits(model, toks, split=9)
    _, vanilla_cache = _cached_logits(vanilla_twin(model), toks, split=9)
    for lime_entry, vanilla_entry in zip(lime_cache.entries, vanilla_cache.entries, strict=True):
        assert lime_entry.past_keys.shape == vanilla_entry.past_keys.shape == (2, 9, 2, 8)
        assert lime_entry.past_values.shape == vanilla_entry.past_values.shape
    _, act = model.run_with_cache(toks)
    assert_close(lime_cache.entries[3].past_keys, act["blocks.3.attn.hook_k"])  # mixed, pre-rotary
    assert_close(lime_cache.entries[3].past_values, act["blocks.3.attn.hook_v"])


# Rotary only: without a tokenizer TransformerLens' generate gives learned-position (GPT-2) models
# wrong positions on cached steps, vanilla included (no attention mask to offset them); the
# cached forward itself is exact for both kinds (test_cached_logits_equal_uncached_logits).
@pytest.mark.parametrize("mode, lookup", MODES)
def test_greedy_generate_gives_the_same_tokens_with_and_without_cache(mode, lookup):
    model = build(llama_cfg(lime_mode=mode, lime_lookup=lookup))
    prompt = tokens(batch=2, pos=5)
    kwargs = dict(max_new_tokens=8, do_sample=False, stop_at_eos=False, verbose=False)
    with_cache = model.generate(prompt, use_past_kv_cache=True, **kwargs)
    without_cache = model.generate(prompt, use_past_kv_cache=False, **kwargs)
    assert with_cache.shape == (2, 13)
    assert torch.equal(with_cache, without_cache)
    # each generated token is the argmax of the full-sequence forward
    with torch.no_grad():
        logits = model(with_cache[:, :-1].clone())
    assert torch.equal(logits[:, 4:].argmax(-1), with_cache[:, 5:])


@pytest.mark.parametrize("mode, lookup", MODES)
def test_left_padding_with_attention_mask_leaves_the_real_tokens_logits_unchanged(mode, lookup):
    model = build(llama_cfg(lime_mode=mode, lime_lookup=lookup))
    toks = tokens(batch=1, pos=8)
    padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), toks], dim=1)
    mask = (torch.arange(11) >= 3).long()[None]
    assert_close(model(padded, attention_mask=mask)[:, 3:], model(toks), atol=1e-5, rtol=1e-5)

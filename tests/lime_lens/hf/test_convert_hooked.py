"""LIMeForCausalLM <-> HookedLIMeTransformer: weights equal both ways, logits equal (fp32, 1e-5)."""

import pytest

# HookedLIMeTransformer is a HookedTransformer: these tests need transformer-lens < 4.
pytest.importorskip("transformer_lens.HookedTransformer")
import torch
from torch.testing import assert_close

from lime_lens import HookedLIMeTransformer, LIMeConfig
from lime_lens.hf.convert import hf_to_hooked, hooked_to_hf
from lime_lens.hf.tiny import tiny_lime_model

IDS = torch.randint(1, 4096, (2, 10), generator=torch.Generator().manual_seed(0))
ROUTERS = [
    dict(num_key_value_heads=2),
    dict(num_key_value_heads=4),
    dict(lime_sources="last_j", lime_sources_j=2, num_key_value_heads=2),
    dict(lime_sources="first_j", lime_sources_j=1, num_key_value_heads=4),
    dict(lime_sources="average", num_key_value_heads=2),
]


@pytest.mark.parametrize("overrides", ROUTERS)
def test_hf_to_hooked_keeps_the_logits(overrides):
    hf = tiny_lime_model(seed=0, **overrides)
    hooked = hf_to_hooked(hf)
    assert type(hooked.blocks[2].lime) is type(hf.model.layers[2].lime)
    with torch.no_grad():
        assert_close(hooked(IDS), hf(IDS).logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("overrides", ROUTERS[:3])
def test_hf_to_hooked_to_hf_gives_back_every_weight(overrides):
    hf = tiny_lime_model(seed=1, **overrides)
    back = hooked_to_hf(hf_to_hooked(hf))
    assert back.state_dict().keys() == hf.state_dict().keys()
    for key, value in hf.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key


@pytest.mark.parametrize("n_kv", [None, 2])
def test_hooked_to_hf_to_hooked_gives_back_every_weight_and_the_logits(n_kv):
    cfg = LIMeConfig(
        d_model=32,
        d_head=8,
        n_heads=4,
        n_key_value_heads=n_kv,
        d_mlp=48,
        n_layers=3,
        n_ctx=64,
        d_vocab=4096,
        act_fn="silu",
        normalization_type="RMS",
        positional_embedding_type="rotary",
        rotary_adjacent_pairs=False,
        gated_mlp=True,
        final_rms=True,
        device="cpu",
        seed=0,
    )
    hooked = HookedLIMeTransformer(cfg)
    hf = hooked_to_hf(hooked)
    back = hf_to_hooked(hf)
    for key, value in hooked.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key
    with torch.no_grad():
        assert_close(hf(IDS).logits, hooked(IDS), atol=1e-5, rtol=1e-5)


def test_a_gate_bias_raises_naming_it():
    hf = tiny_lime_model(seed=2, mlp_bias=True)
    with torch.no_grad():
        hf.model.layers[1].mlp.gate_proj.bias.fill_(0.5)
    with pytest.raises(ValueError, match=r"model\.layers\.1\.mlp\.gate_proj\.bias is not zero"):
        hf_to_hooked(hf)


def test_a_hooked_model_the_llama_layout_lacks_raises_naming_the_field():
    cfg = LIMeConfig(
        d_model=32,
        d_head=8,
        n_heads=4,
        d_mlp=48,
        n_layers=2,
        n_ctx=64,
        d_vocab=50,
        act_fn="gelu",
        normalization_type="LN",
        device="cpu",
    )
    with pytest.raises(ValueError, match="normalization_type='LN'"):
        hooked_to_hf(HookedLIMeTransformer(cfg))


def test_a_hooked_model_with_trained_biases_converts_exactly_both_ways():
    """TransformerLens trains its biases; the HF model then carries them (attention_bias,
    mlp_bias, lm_head_bias), so models trained with ``python -m lime_lens.train`` convert. TL's
    b_in (added after the gating) folds into down_proj's bias: logits equal both ways, and the
    HF weights come back exactly."""
    hooked = hf_to_hooked(tiny_lime_model(seed=3))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in hooked.named_parameters():
            if name.rsplit(".", 1)[-1].lstrip("_").startswith("b_"):
                param.copy_(0.1 * torch.randn(param.shape, generator=gen))
    hf = hooked_to_hf(hooked)
    assert hf.config.attention_bias and hf.config.mlp_bias and hf.config.lm_head_bias
    with torch.no_grad():
        assert_close(hf(IDS).logits, hooked(IDS), atol=1e-5, rtol=1e-5)
    back = hf_to_hooked(hf)
    with torch.no_grad():
        assert_close(back(IDS), hooked(IDS), atol=1e-5, rtol=1e-5)
    again = hooked_to_hf(back)
    for key, value in hf.state_dict().items():
        assert torch.equal(again.state_dict()[key], value), key

"""use_fused_attention swaps a vanilla model's attention in place: the same Parameter objects,
buffers and state-dict keys, so the models this package builds and loads keep their weights."""

import pytest
import torch
from lime_helpers import build, gpt2_cfg, llama_cfg, tokens, vanilla_twin
from torch.testing import assert_close
from transformer_lens import HookedTransformer

from lime_lens.assets.models import load_default_model
from lime_lens.assets.pretrained import load_tiny_baseline_model
from lime_lens.tl.internals import GroupedQueryAttention
from lime_lens.tl.vanilla_attention import (
    SDPAAttention,
    SDPAGroupedQueryAttention,
    use_fused_attention,
)
from lime_lens.train.architectures import ModelShape, build_model


@pytest.mark.parametrize(
    ("cfg", "fused_cls"), [(llama_cfg, SDPAGroupedQueryAttention), (gpt2_cfg, SDPAAttention)]
)
def test_the_swap_keeps_the_parameter_objects_buffers_and_keys(cfg, fused_cls):
    model = vanilla_twin(build(cfg())).train()
    params = dict(model.named_parameters())
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    keys = list(model.state_dict())
    before = model(tokens())
    assert use_fused_attention(model) is model
    assert all(type(block.attn) is fused_cls for block in model.blocks)
    assert all(p is params[n] for n, p in model.named_parameters())  # optimiser refs stay valid
    assert list(model.state_dict()) == keys
    for name, buffer in model.named_buffers():
        assert torch.equal(buffer, buffers[name]), name
    assert model.blocks[0].attn.training
    assert "blocks.1.attn.hook_z" in model.hook_dict  # setup() re-ran on the new modules
    assert_close(model(tokens()), before, atol=1e-5, rtol=1e-5)
    use_fused_attention(model, "explicit")  # a second call only sets attn_impl
    assert all(block.attn.attn_impl == "explicit" for block in model.blocks)
    assert torch.equal(model(tokens()), before)


def test_attention_classes_it_does_not_know_raise_naming_the_layer():
    model = vanilla_twin(build(llama_cfg()))
    model.blocks[2].attn = torch.nn.Identity()
    with pytest.raises(ValueError, match=r"blocks\.2\.attn is a Identity"):
        use_fused_attention(model)
    assert type(model.blocks[0].attn) is GroupedQueryAttention  # refused before any swap


def test_build_model_vanilla_is_fused_with_the_unswapped_seeded_weights():
    shape = ModelShape(n_layers=2, d_model=32, n_heads=4, n_key_value_heads=2, d_head=8, d_mlp=48)
    model = build_model("vanilla", shape, d_vocab=61, seed=3)
    assert all(type(block.attn) is SDPAGroupedQueryAttention for block in model.blocks)
    torch.manual_seed(0)  # build_model seeds through the config, not the global generator
    plain = HookedTransformer(model.cfg)
    for name, tensor in plain.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name


def test_shipped_vanilla_models_load_fused():
    for model in (load_default_model(), load_tiny_baseline_model()):
        assert all(type(b.attn) in (SDPAAttention, SDPAGroupedQueryAttention) for b in model.blocks)
        assert not model.training

"""lime_lens.tl.linear_layout: MLP / unembedding weights held transposed give bit-identical outputs
and gradients with no per-call copy, in every model the package builds, through the moves a user
makes; the stock layout comes back for FSDP2."""

import pytest
import torch
from lime_helpers import build, llama_cfg, vanilla_twin
from transformer_lens import HookedTransformer

from lime_lens import HookedLIMeTransformer
from lime_lens.assets.pretrained import load_tiny_baseline_model
from lime_lens.tl.internals import LINEAR_WEIGHTS
from lime_lens.tl.linear_layout import (
    store_linear_weights_contiguous,
    store_linear_weights_transposed,
)
from lime_lens.train.architectures import ModelShape, build_model


def _transposed(model) -> bool:
    weights = [
        getattr(module, name)
        for module in model.modules()
        for name in LINEAR_WEIGHTS.get(type(module), ())
    ]
    assert weights  # the model has gated MLPs and an unembedding
    return all(w.T.is_contiguous() for w in weights)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_transposed_linear_layout_is_bit_identical_and_copies_nothing(dtype):
    cfg = llama_cfg(dtype=dtype).vanilla_config()  # LLaMA-style: gated MLP, untied unembed
    stock, relaid = HookedTransformer(cfg), HookedTransformer(cfg)
    relaid.load_state_dict(stock.state_dict())
    params = dict(relaid.named_parameters())
    store_linear_weights_transposed(relaid)
    assert all(p is params[n] for n, p in relaid.named_parameters())  # same objects: optimisers
    tokens = torch.randint(0, cfg.d_vocab, (2, 8), generator=torch.Generator().manual_seed(0))
    losses = []
    for model in (stock, relaid):
        loss = model(tokens, return_type="loss")
        loss.backward()
        losses.append(loss)
    assert torch.equal(losses[0], losses[1])
    for (name, a), b in zip(stock.named_parameters(), relaid.parameters(), strict=True):
        assert torch.equal(a, b) and torch.equal(a.grad, b.grad), name
    for module in (relaid.blocks[0].mlp, relaid.unembed):
        for name in LINEAR_WEIGHTS[type(module)]:
            weight = getattr(module, name)
            assert weight.T.contiguous().data_ptr() == weight.data_ptr(), name  # no copy

    store_linear_weights_contiguous(relaid)  # back to stock: what FSDP2 accepts
    assert all(p.is_contiguous() for p in relaid.parameters())
    assert all(p is params[n] for n, p in relaid.named_parameters())
    assert torch.equal(relaid(tokens), stock(tokens))


def test_package_models_are_laid_out_so_through_save_load_processing_and_dtype(tmp_path):
    lime = build(llama_cfg(lime_mode="kv"))
    vanilla = build_model("vanilla", ModelShape(n_layers=2, d_model=32, d_mlp=48, n_ctx=16), 61)
    assert _transposed(lime) and _transposed(vanilla) and _transposed(load_tiny_baseline_model())
    lime.save_pretrained(tmp_path / "lime")
    assert _transposed(HookedLIMeTransformer.from_pretrained(tmp_path / "lime"))
    lime.process_weights_()
    assert _transposed(lime)
    assert _transposed(vanilla.to(torch.bfloat16))
    assert not _transposed(vanilla_twin(lime))  # stock TransformerLens: untouched

"""Small model builders for the analysis tests (CPU, seconds, no downloads)."""

from __future__ import annotations

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

D_VOCAB = 50


def tiny_vanilla(n_layers: int = 3, seed: int = 0, **overrides) -> HookedTransformer:
    """A 3-layer GPT-2-style HookedTransformer with a 50-token vocabulary and no tokenizer."""
    kwargs = dict(
        n_layers=n_layers,
        d_model=16,
        d_head=4,
        n_heads=4,
        n_ctx=32,
        d_vocab=D_VOCAB,
        act_fn="gelu",
        normalization_type="LN",
        seed=seed,
    )
    kwargs.update(overrides)
    return HookedTransformer(HookedTransformerConfig(**kwargs)).eval()


def random_tokens(n_seq: int = 6, pos: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, D_VOCAB, (n_seq, pos), generator=torch.Generator().manual_seed(seed))


def tiny_lime(
    mode: str = "kv", lookup: str = "static", seed: int = 0, gqa: bool = False, **overrides
):
    """A 3-layer LIMe model; norm gains/biases randomised so per-source norms are not identities."""
    from lime_lens import HookedLIMeTransformer, LIMeConfig

    kwargs = dict(
        n_layers=3,
        d_model=16,
        d_head=4,
        n_heads=4,
        n_ctx=32,
        d_vocab=D_VOCAB,
        act_fn="gelu",
        normalization_type="LN",
        seed=seed,
        lime_mode=mode,
        lime_lookup=lookup,
        n_key_value_heads=2 if gqa else None,
    )
    kwargs.update(overrides)
    model = HookedLIMeTransformer(LIMeConfig(**kwargs)).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith((".w", ".b")) or ".lime.route" in name:
                p.add_(0.3 * torch.randn(p.shape, generator=gen))
    return model


LIME_VARIANTS = [
    ("kv", "static"),
    ("residual", "static"),
    ("residual", "top_p"),
    ("residual", "dynamic"),
]

"""Small builders for the trainer tests: a tiny LLaMA-style model and random token rows."""

from __future__ import annotations

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from lime_lens.tl.vanilla_attention import use_fused_attention

VOCAB, CONTEXT = 64, 16


def tiny_model(seed: int = 0) -> HookedTransformer:
    cfg = HookedTransformerConfig(
        n_layers=2,
        d_model=32,
        n_ctx=CONTEXT,
        d_head=8,
        n_heads=4,
        n_key_value_heads=2,
        d_mlp=64,
        d_vocab=VOCAB,
        act_fn="silu",
        normalization_type="RMS",
        positional_embedding_type="rotary",
        gated_mlp=True,
        seed=seed,
    )
    # fused attention, as build_model("vanilla") builds it: the DDP/FSDP tests cover that path
    return use_fused_attention(HookedTransformer(cfg, move_to_device=False))


def token_rows(n: int, seed: int) -> torch.Tensor:
    """``n`` BOS-prefixed rows of CONTEXT ids: random at odd positions, and at even positions a
    fixed function of the previous id (a bigram a model learns in a few dozen steps)."""
    gen = torch.Generator().manual_seed(seed)
    rows = torch.randint(1, VOCAB, (n, CONTEXT), generator=gen)
    rows[:, 2::2] = (rows[:, 1:-1:2] * 7 + 3) % (VOCAB - 1) + 1
    rows[:, 0] = 0
    return rows

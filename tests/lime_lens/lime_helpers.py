"""Tiny LIMe builders for the lime_lens model tests (CPU, seconds, no downloads)."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from transformer_lens import HookedTransformer

from lime_lens import HookedLIMeTransformer, LIMeConfig

warnings.filterwarnings("ignore", message=".*HookedTransformer.*deprecated.*")

D_VOCAB = 61
MODES = [("kv", "static"), ("residual", "static"), ("residual", "dynamic"), ("residual", "top_p")]


def llama_cfg(**overrides: Any) -> LIMeConfig:
    """LLaMA-style: RMSNorm, rotary, gated SiLU MLP, GQA (4 query heads over 2 KV heads)."""
    kwargs: dict[str, Any] = dict(
        n_layers=4,
        d_model=32,
        d_head=8,
        n_heads=4,
        n_key_value_heads=2,
        d_mlp=48,
        d_vocab=D_VOCAB,
        n_ctx=64,
        act_fn="silu",
        gated_mlp=True,
        normalization_type="RMS",
        final_rms=True,
        positional_embedding_type="rotary",
        device="cpu",
        seed=0,
    )
    kwargs.update(overrides)
    return LIMeConfig(**kwargs)


def gpt2_cfg(**overrides: Any) -> LIMeConfig:
    """GPT-2-style: LayerNorm, learned positions, GELU MLP, full multi-head attention."""
    kwargs: dict[str, Any] = dict(
        n_layers=3,
        d_model=32,
        d_head=8,
        n_heads=4,
        d_mlp=64,
        d_vocab=D_VOCAB,
        n_ctx=64,
        act_fn="gelu",
        normalization_type="LN",
        positional_embedding_type="standard",
        device="cpu",
        seed=0,
    )
    kwargs.update(overrides)
    return LIMeConfig(**kwargs)


def build(cfg: LIMeConfig, randomize_norms: bool = True) -> HookedLIMeTransformer:
    """A model in eval mode; norm weights/biases and attention biases made non-trivial."""
    model = HookedLIMeTransformer(cfg).eval()
    if randomize_norms:
        gen = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith(".w") and ("ln" in name):
                    p.copy_(1 + 0.3 * torch.randn(p.shape, generator=gen))
                elif name.split(".")[-1] in (
                    "b",
                    "b_Q",
                    "b_K",
                    "b_V",
                    "_b_K",
                    "_b_V",
                    "b_O",
                    "b_in",
                    "b_out",
                ):
                    p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    return model


def tokens(batch: int = 2, pos: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, D_VOCAB, (batch, pos), generator=torch.Generator().manual_seed(seed))


def vanilla_twin(model: HookedLIMeTransformer) -> HookedTransformer:
    """A plain HookedTransformer with the same config and every non-router weight copied."""
    vanilla = HookedTransformer(model.cfg.vanilla_config()).eval()
    state = {k: v for k, v in model.state_dict().items() if ".lime." not in k}
    vanilla.load_state_dict(state, strict=True)
    return vanilla


def route_one_hot_on_current(model: HookedLIMeTransformer) -> None:
    """Every router reads only the current layer: kv R^l = [0 .. 0 I]; residual w = e_l; LIMe norm = ln1."""
    with torch.no_grad():
        for block in model.blocks:
            lime = block.lime
            if lime is None:
                continue
            if model.cfg.lime_mode == "kv":
                lime.route.zero_()
                lime.route[:, -1, :] = torch.eye(lime.route.shape[0])
                continue
            lime.ln.load_state_dict(block.ln1.state_dict())
            if model.cfg.lime_lookup != "dynamic":  # dynamic weights are per token: use the hook
                lime.route.fill_(float("-inf"))
                lime.route[:, -1] = 0.0


def one_hot_route_hook(route: torch.Tensor, hook: Any) -> torch.Tensor:
    """Replace any residual-mode route by one-hot weights on the layer's own input."""
    out = torch.zeros_like(route)
    out[..., -1] = 1.0
    return out

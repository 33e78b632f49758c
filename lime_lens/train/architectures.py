"""The models the CLI trains: a LLaMA-style vanilla baseline and the LIMe variants (paper v1/v2).

All share one LLaMA-style shape (RMSNorm, rotary, gated SiLU MLP, grouped-query attention) so a
LIMe model and its baseline differ only by the router parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transformer_lens import HookedTransformer, HookedTransformerConfig
from transformers import PreTrainedTokenizerBase

from lime_lens.router_registry import router_entries


def lime_arches() -> dict[str, tuple[str, str]]:
    """``"lime-{name}"`` -> ``(lime_mode, lime_lookup)`` for every registered router."""
    return {f"lime-{entry.name}": key for key, entry in router_entries().items()}


ARCHES = ("vanilla", *lime_arches())
"""The built-in architectures (the CLI's choices); build_model also accepts routers registered later."""


@dataclass
class ModelShape:
    """Sizes of a LLaMA-style model (defaults: the embedded default model)."""

    n_layers: int = 4
    """Transformer blocks."""
    d_model: int = 128
    """Residual stream width."""
    n_heads: int = 4
    """Query heads."""
    n_key_value_heads: int | None = 2
    """K/V heads (grouped-query attention); None means one per query head."""
    d_head: int = 32
    """Width of one head."""
    d_mlp: int = 384
    """Hidden width of the gated MLP."""
    n_ctx: int = 256
    """Longest context the rotary tables cover."""

    def __post_init__(self) -> None:
        for name in ("n_layers", "d_model", "n_heads", "d_head", "d_mlp", "n_ctx"):
            if getattr(self, name) < 1:
                raise ValueError(f"ModelShape.{name} must be >= 1, got {getattr(self, name)}")
        kv = self.n_key_value_heads
        if kv is not None and (kv < 1 or self.n_heads % kv):
            raise ValueError(
                f"ModelShape.n_key_value_heads={kv} must divide n_heads={self.n_heads}"
            )


def llama_config_kwargs(shape: ModelShape, d_vocab: int, seed: int) -> dict[str, Any]:
    """HookedTransformerConfig arguments of a LLaMA-style model of ``shape``."""
    return dict(
        n_layers=shape.n_layers,
        d_model=shape.d_model,
        n_heads=shape.n_heads,
        n_key_value_heads=shape.n_key_value_heads,
        d_head=shape.d_head,
        d_mlp=shape.d_mlp,
        n_ctx=shape.n_ctx,
        d_vocab=d_vocab,
        act_fn="silu",
        gated_mlp=True,
        normalization_type="RMS",
        final_rms=True,
        positional_embedding_type="rotary",
        rotary_dim=shape.d_head,
        rotary_adjacent_pairs=False,
        eps=1e-5,
        seed=seed,
        original_architecture="LlamaForCausalLM",
    )


def build_model(
    arch: str,
    shape: ModelShape,
    d_vocab: int,
    seed: int = 0,
    tokenizer: PreTrainedTokenizerBase | None = None,
    lime_top_p: float = 0.9,
    device: str = "cpu",
) -> HookedTransformer:
    """A freshly initialised (seeded) model: HookedTransformer or lime_lens.HookedLIMeTransformer."""
    lime = lime_arches()
    if arch != "vanilla" and arch not in lime:
        raise ValueError(f"arch must be one of {('vanilla', *lime)}, got {arch!r}")
    kwargs = {**llama_config_kwargs(shape, d_vocab, seed), "device": device}
    if arch == "vanilla":
        return HookedTransformer(HookedTransformerConfig(**kwargs), tokenizer=tokenizer)
    from lime_lens import HookedLIMeTransformer, LIMeConfig

    mode, lookup = lime[arch]
    cfg = LIMeConfig(**kwargs, lime_mode=mode, lime_lookup=lookup, lime_top_p=lime_top_p)
    return HookedLIMeTransformer(cfg, tokenizer=tokenizer)


def count_params(model: HookedTransformer) -> int:
    """Trainable parameters (what "equal parameter count" compares)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

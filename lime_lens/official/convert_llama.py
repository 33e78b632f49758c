"""The Hugging Face Llama parts shared by both official LIMe layouts, in both directions.

Both official ``LIMeForCausalLM`` versions (corl-team/lime: v1 at commit 601cd30, paper v1 §3;
v2 at commit 4242812, paper v2 §4) subclass HF ``LlamaForCausalLM``. Outside the attention's K/V
side they share its keys: ``model.embed_tokens``, ``model.norm``, ``lm_head`` (absent from the
safetensors file when the embeddings are tied: the saver keeps one name per shared tensor), and per
layer the input/post-attention RMSNorms, the query and output projections and the gated MLP.
This module maps those keys, validates a whole layout (missing, unknown or mis-shaped keys raise
a ValueError naming the key), and tells the two versions apart by their LIMe keys.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import einops
import torch
from safetensors.torch import load_file

from lime_lens.config import LIMeConfig
from lime_lens.model import HookedLIMeTransformer

Layout = dict[str, tuple[int, ...]]
"""Official key -> expected shape."""

IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)  # derived RoPE buffers, rebuilt by TransformerLens

# Keys only one official version has: v1 routes the residual stream, v2 the raw K/V heads.
VERSION_MARKERS = {
    1: ("attention_router.", "input_layernorm_lime.", "lime_kv_proj", "q_proj_default."),
    2: ("lime_router.", "kv_proj_weight"),
}
LOADERS = {
    1: "lime_lens.official.convert_v1.from_official_v1_checkpoint",
    2: "from_official_checkpoint",
}


def read_official_folder(
    path: str | os.PathLike[str], version: int
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(config.json, model.safetensors) of an official v``version`` folder; a v1 folder given to
    the v2 loader (or the reverse) raises naming the key that gives it away."""
    folder = Path(path)
    for name in ("config.json", "model.safetensors"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name}: missing (expected an official LIMe folder)")
    state = load_file(str(folder / "model.safetensors"))
    refuse_other_version(state, version)
    return json.loads((folder / "config.json").read_text()), state


def refuse_other_version(keys: Any, version: int) -> None:
    """Raise a ValueError naming the first key that belongs to the other official version."""
    other = 3 - version
    for key in sorted(keys):
        if any(marker in key for marker in VERSION_MARKERS[other]):
            raise ValueError(
                f"{key} is a key of the official v{other} LIMe layout, not v{version}: "
                f"load this checkpoint with {LOADERS[other]}"
            )


def head_dim_of(hf_config: dict[str, Any]) -> int:
    """``head_dim``, else ``hidden_size // num_attention_heads`` when the heads divide the width."""
    if hf_config.get("head_dim"):
        return int(hf_config["head_dim"])
    width, heads = hf_config["hidden_size"], hf_config["num_attention_heads"]
    if heads <= 0 or width % heads:
        raise ValueError(
            f"num_attention_heads ({heads}) does not divide hidden_size ({width}) and "
            "config.json has no head_dim"
        )
    return width // heads


def llama_config_kwargs(hf_config: dict[str, Any]) -> dict[str, Any]:
    """LIMeConfig fields (all but the LIMe ones) from an HF ``LlamaConfig`` dict (config.json)."""
    for flag in ("attention_bias", "mlp_bias"):
        if hf_config.get(flag):
            raise ValueError(f"config.json {flag}=true: the official LIMe layouts have no biases")
    if hf_config.get("rope_scaling"):
        raise ValueError("config.json rope_scaling is set: only plain RoPE converts")
    n_heads = hf_config["num_attention_heads"]
    n_kv = hf_config.get("num_key_value_heads") or n_heads
    return dict(
        d_model=hf_config["hidden_size"],
        d_head=head_dim_of(hf_config),
        n_heads=n_heads,
        n_key_value_heads=n_kv if n_kv != n_heads else None,
        d_mlp=hf_config["intermediate_size"],
        n_layers=hf_config["num_hidden_layers"],
        n_ctx=hf_config.get("max_position_embeddings", 2048),
        d_vocab=hf_config["vocab_size"],
        eps=hf_config.get("rms_norm_eps", 1e-6),
        rotary_base=hf_config.get("rope_theta", 10000.0),
        act_fn=hf_config.get("hidden_act", "silu"),
        normalization_type="RMS",
        final_rms=True,
        positional_embedding_type="rotary",
        rotary_adjacent_pairs=False,
        gated_mlp=True,
        original_architecture="LlamaForCausalLM",
    )


def llama_layout(cfg: LIMeConfig, tied: bool, q_key: Callable[[int], str]) -> Layout:
    """Shapes of the shared Llama keys; ``q_key(layer)`` names the query projection."""
    D, V, F, HD = cfg.d_model, cfg.d_vocab, cfg.d_mlp, cfg.n_heads * cfg.d_head
    assert F is not None  # llama_config_kwargs sets it from intermediate_size
    layout: Layout = {"model.embed_tokens.weight": (V, D), "model.norm.weight": (D,)}
    if not tied:
        layout["lm_head.weight"] = (V, D)
    for layer in range(cfg.n_layers):
        p = f"model.layers.{layer}."
        layout |= {
            p + "input_layernorm.weight": (D,),
            p + "post_attention_layernorm.weight": (D,),
            p + q_key(layer): (HD, D),
            p + "self_attn.o_proj.weight": (D, HD),
            p + "mlp.gate_proj.weight": (F, D),
            p + "mlp.up_proj.weight": (F, D),
            p + "mlp.down_proj.weight": (D, F),
        }
    return layout


def check_layout(state_dict: dict[str, torch.Tensor], layout: Layout, what: str) -> None:
    """Missing, unknown or mis-shaped keys raise a ValueError naming them."""
    present = {k for k in state_dict if not k.endswith(IGNORED_SUFFIXES)}
    if present != set(layout):
        raise ValueError(
            f"{what} state dict: missing keys {sorted(set(layout) - present)}, "
            f"unknown keys {sorted(present - set(layout))}"
        )
    for key, shape in layout.items():
        if tuple(state_dict[key].shape) != shape:
            raise ValueError(f"{key} has shape {tuple(state_dict[key].shape)}, expected {shape}")


def llama_to_ours(
    sd: dict[str, torch.Tensor], cfg: LIMeConfig, tied: bool, q_key: Callable[[int], str]
) -> dict[str, torch.Tensor]:
    """Shared Llama keys -> HookedLIMeTransformer names; the biases Llama lacks become zeros."""
    assert cfg.d_mlp is not None  # llama_config_kwargs sets it from intermediate_size
    zeros = lambda *shape: torch.zeros(*shape, dtype=cfg.dtype)  # noqa: E731
    out = {
        "embed.W_E": sd["model.embed_tokens.weight"],
        "ln_final.w": sd["model.norm.weight"],
        "unembed.W_U": (sd["model.embed_tokens.weight"] if tied else sd["lm_head.weight"]).T,
        "unembed.b_U": zeros(cfg.d_vocab_out),
    }
    for layer in range(cfg.n_layers):
        p, b = f"model.layers.{layer}.", f"blocks.{layer}."
        out |= {
            b + "attn.W_Q": einops.rearrange(
                sd[p + q_key(layer)], "(n h) m -> n m h", n=cfg.n_heads
            ),
            b + "attn.b_Q": zeros(cfg.n_heads, cfg.d_head),
            b + "attn.W_O": einops.rearrange(
                sd[p + "self_attn.o_proj.weight"], "m (n h) -> n h m", n=cfg.n_heads
            ),
            b + "attn.b_O": zeros(cfg.d_model),
            b + "ln1.w": sd[p + "input_layernorm.weight"],
            b + "ln2.w": sd[p + "post_attention_layernorm.weight"],
            b + "mlp.W_gate": sd[p + "mlp.gate_proj.weight"].T,
            b + "mlp.W_in": sd[p + "mlp.up_proj.weight"].T,
            b + "mlp.W_out": sd[p + "mlp.down_proj.weight"].T,
            b + "mlp.b_in": zeros(cfg.d_mlp),
            b + "mlp.b_out": zeros(cfg.d_model),
        }
    return out


def ours_to_llama(
    params: dict[str, torch.Tensor], cfg: LIMeConfig, tied: bool, q_key: Callable[[int], str]
) -> dict[str, torch.Tensor]:
    """Inverse of :func:`llama_to_ours` (the zero biases are checked by the exporter)."""
    out = {
        "model.embed_tokens.weight": params["embed.W_E"],
        "model.norm.weight": params["ln_final.w"],
    }
    if not tied:
        out["lm_head.weight"] = params["unembed.W_U"].T
    for layer in range(cfg.n_layers):
        p, b = f"model.layers.{layer}.", f"blocks.{layer}."
        out |= {
            p + q_key(layer): einops.rearrange(params[b + "attn.W_Q"], "n m h -> (n h) m"),
            p + "self_attn.o_proj.weight": einops.rearrange(
                params[b + "attn.W_O"], "n h m -> m (n h)"
            ),
            p + "input_layernorm.weight": params[b + "ln1.w"],
            p + "post_attention_layernorm.weight": params[b + "ln2.w"],
            p + "mlp.gate_proj.weight": params[b + "mlp.W_gate"].T,
            p + "mlp.up_proj.weight": params[b + "mlp.W_in"].T,
            p + "mlp.down_proj.weight": params[b + "mlp.W_out"].T,
        }
    return out


def build_model(
    params: dict[str, torch.Tensor], cfg: LIMeConfig, tokenizer: Any = None
) -> HookedLIMeTransformer:
    """A HookedLIMeTransformer with every parameter set from ``params`` (converted names)."""
    model = HookedLIMeTransformer(cfg, tokenizer=tokenizer)
    names = set(dict(model.named_parameters()))
    missing, unexpected = sorted(names - set(params)), sorted(set(params) - names)
    if missing or unexpected:  # a TransformerLens config flag the converter does not map
        raise ValueError(f"converted state dict: missing {missing}, unexpected {unexpected}")
    model.load_state_dict(
        {k: v.to(cfg.dtype).contiguous() for k, v in params.items()}, strict=False
    )  # buffers (rotary tables, masks) are rebuilt
    return model

"""Convert an official corl-team/lime v2 ``LIMeForCausalLM`` checkpoint to HookedLIMeTransformer.

The inverse (:func:`official_v2_state_dict`) is what ``lime_lens.official.export`` writes. Official v2
layout (repo commit 4242812, ``src/lm/lime.py``), L layers, R KV heads, head size d_h:
- ``model.layers.{l}.self_attn.kv_proj_weight``: (2 d_h R, D), no bias. Its output is read with
  ``rearrange("(bt) (kv h) -> h (bt kv)", kv=2 d_h)``: feature f * R + h, f < d_h is K, else V.
- ``model.layers.{l}.self_attn.lime_router.static_weights``: (R, (l+1) R), l >= 1, columns
  layer-major then head (the kv_buffer rows); layer 0 has no router (FirstLayerRouter).
- Everything else is HF Llama: q_proj/o_proj, input/post_attention_layernorm, gate/up/down_proj,
  model.norm, model.embed_tokens, lm_head (absent when the embeddings are tied).
"""

from __future__ import annotations

import os
from typing import Any

import einops
import torch

from lime_lens.config import LIMeConfig
from lime_lens.model import HookedLIMeTransformer
from lime_lens.official.convert_llama import (
    Layout,
    build_model,
    check_layout,
    llama_config_kwargs,
    llama_layout,
    llama_to_ours,
    ours_to_llama,
    read_official_folder,
    refuse_other_version,
)
from lime_lens.router_registry import router_class
from lime_lens.tl.internals import kv_param_prefix

_Q_KEY = lambda layer: "self_attn.q_proj.weight"  # noqa: E731


def config_from_official(hf_config: dict[str, Any], **overrides: Any) -> LIMeConfig:
    """LIMeConfig (kv mode) from the official model's HF ``LlamaConfig`` dict (config.json)."""
    kwargs = llama_config_kwargs(hf_config) | dict(lime_mode="kv")
    kwargs.update(overrides)
    return LIMeConfig(**kwargs)


def official_v2_layout(cfg: LIMeConfig, tied: bool) -> Layout:
    """Every key of the official v2 state dict and its shape (the module docstring)."""
    layout = llama_layout(cfg, tied, _Q_KEY)
    n_kv = cfg.n_kv_heads
    for layer in range(cfg.n_layers):
        p = f"model.layers.{layer}.self_attn."
        layout[p + "kv_proj_weight"] = (2 * cfg.d_head * n_kv, cfg.d_model)
        if layer:
            layout[p + "lime_router.static_weights"] = (n_kv, (layer + 1) * n_kv)
    return layout


def convert_official_state_dict(
    state_dict: dict[str, torch.Tensor], cfg: LIMeConfig, tie_word_embeddings: bool = False
) -> dict[str, torch.Tensor]:
    """Official v2 state dict -> HookedLIMeTransformer parameter names (biases are zeros)."""
    if not router_class(cfg).official_v2_layout:
        raise ValueError("the official v2 checkpoint is kv mode; cfg.lime_mode must be 'kv'")
    refuse_other_version(state_dict, 2)
    tied = tie_word_embeddings and "lm_head.weight" not in state_dict
    check_layout(state_dict, official_v2_layout(cfg, tied), "official LIMe v2")
    n_kv, d_head = cfg.n_kv_heads, cfg.d_head
    sd = {k: v.to(cfg.dtype) for k, v in state_dict.items()}
    out = llama_to_ours(sd, cfg, tied, _Q_KEY)
    kv_prefix = kv_param_prefix(cfg.n_key_value_heads)
    for layer in range(cfg.n_layers):
        p, b = f"model.layers.{layer}.self_attn.", f"blocks.{layer}."
        kv = einops.rearrange(sd[p + "kv_proj_weight"], "(kv h) m -> kv h m", h=n_kv)
        out[b + kv_prefix + "W_K"] = einops.rearrange(kv[:d_head], "d h m -> h m d")
        out[b + kv_prefix + "W_V"] = einops.rearrange(kv[d_head:], "d h m -> h m d")
        out[b + kv_prefix + "b_K"] = out[b + kv_prefix + "b_V"] = torch.zeros(
            n_kv, d_head, dtype=cfg.dtype
        )
        if layer:  # (R, (l+1) R), columns layer-major -> [h, l', h']
            route = sd[p + "lime_router.static_weights"]
            out[b + "lime.route"] = route.reshape(n_kv, layer + 1, n_kv)
    return {k: v.contiguous() for k, v in out.items()}


def official_v2_state_dict(
    params: dict[str, torch.Tensor], cfg: LIMeConfig, tied: bool
) -> dict[str, torch.Tensor]:
    """Inverse of :func:`convert_official_state_dict` (``lm_head`` left out when ``tied``)."""
    out = ours_to_llama(params, cfg, tied, _Q_KEY)
    kv_prefix = kv_param_prefix(cfg.n_key_value_heads)
    for layer in range(cfg.n_layers):
        p, b = f"model.layers.{layer}.self_attn.", f"blocks.{layer}."
        k, v = (params[b + kv_prefix + w] for w in ("W_K", "W_V"))  # [h, m, d]
        kv = einops.rearrange(torch.cat([k, v], dim=2), "h m d -> (d h) m")  # feature f R + h
        out[p + "kv_proj_weight"] = kv
        if layer:
            out[p + "lime_router.static_weights"] = params[b + "lime.route"].reshape(
                cfg.n_kv_heads, -1
            )
    return {k: v.contiguous() for k, v in out.items()}


def load_official_state_dict(
    state_dict: dict[str, torch.Tensor],
    cfg: LIMeConfig,
    tie_word_embeddings: bool = False,
    tokenizer: Any = None,
) -> HookedLIMeTransformer:
    """Build a HookedLIMeTransformer from an official v2 state dict; every parameter must be set."""
    params = convert_official_state_dict(state_dict, cfg, tie_word_embeddings)
    return build_model(params, cfg, tokenizer)


def from_official_checkpoint(
    path: str | os.PathLike[str], tokenizer: Any = None, **overrides: Any
) -> HookedLIMeTransformer:
    """Folder with the official ``config.json`` + ``model.safetensors`` -> HookedLIMeTransformer."""
    hf_config, state = read_official_folder(path, 2)
    cfg = config_from_official(hf_config, **overrides)
    return load_official_state_dict(
        state, cfg, hf_config.get("tie_word_embeddings", False), tokenizer
    )

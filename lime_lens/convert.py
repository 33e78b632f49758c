"""Convert an official corl-team/lime v2 ``LIMeForCausalLM`` checkpoint to HookedLIMeTransformer.

Official layout (repo commit 4242812, ``src/lm/lime.py``), L layers, R KV heads, head size d_h:
- ``model.layers.{l}.self_attn.kv_proj_weight``: (2 d_h R, D), no bias. Its output is read with
  ``rearrange("(bt) (kv h) -> h (bt kv)", kv=2 d_h)``: feature f * R + h, f < d_h is K, else V.
- ``model.layers.{l}.self_attn.lime_router.static_weights``: (R, (l+1) R), l >= 1, columns
  layer-major then head (the kv_buffer rows); layer 0 has no router (FirstLayerRouter).
- Everything else is HF Llama: q_proj/o_proj, input/post_attention_layernorm, gate/up/down_proj,
  model.norm, model.embed_tokens, lm_head (absent when the embeddings are tied).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import einops
import torch
from safetensors.torch import load_file

from lime_lens.config import LIMeConfig
from lime_lens.model import HookedLIMeTransformer
from lime_lens.router_registry import router_class
from lime_lens.tl_internals import kv_param_prefix

_IGNORED = ("model.rotary_emb.inv_freq",)  # derived buffer, rebuilt by TransformerLens


def config_from_official(hf_config: dict[str, Any], **overrides: Any) -> LIMeConfig:
    """LIMeConfig (kv mode) from the official model's HF ``LlamaConfig`` dict (config.json)."""
    n_heads = hf_config["num_attention_heads"]
    n_kv = hf_config.get("num_key_value_heads") or n_heads
    d_head = hf_config.get("head_dim") or hf_config["hidden_size"] // n_heads
    kwargs: dict[str, Any] = dict(
        d_model=hf_config["hidden_size"],
        d_head=d_head,
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
        lime_mode="kv",
    )
    kwargs.update(overrides)
    return LIMeConfig(**kwargs)


def _expected_keys(cfg: LIMeConfig, tied: bool) -> set[str]:
    keys = {"model.embed_tokens.weight", "model.norm.weight"} | (
        set() if tied else {"lm_head.weight"}
    )
    for layer in range(cfg.n_layers):
        p = f"model.layers.{layer}."
        keys |= {
            p + k
            for k in (
                "input_layernorm.weight",
                "post_attention_layernorm.weight",
                "self_attn.q_proj.weight",
                "self_attn.o_proj.weight",
                "self_attn.kv_proj_weight",
                "mlp.gate_proj.weight",
                "mlp.up_proj.weight",
                "mlp.down_proj.weight",
            )
        }
        if layer:
            keys.add(p + "self_attn.lime_router.static_weights")
    return keys


def convert_official_state_dict(
    state_dict: dict[str, torch.Tensor], cfg: LIMeConfig, tie_word_embeddings: bool = False
) -> dict[str, torch.Tensor]:
    """Official v2 state dict -> HookedLIMeTransformer parameter names (biases are zeros)."""
    if not router_class(cfg).official_v2_layout:
        raise ValueError("the official v2 checkpoint is kv mode; cfg.lime_mode must be 'kv'")
    tied = tie_word_embeddings and "lm_head.weight" not in state_dict
    present = set(state_dict) - set(_IGNORED)
    expected = _expected_keys(cfg, tied)
    if present != expected:
        raise ValueError(
            f"official LIMe state dict: missing keys {sorted(expected - present)}, "
            f"unknown keys {sorted(present - expected)}"
        )
    n_kv, d_head = cfg.n_kv_heads, cfg.d_head
    sd = {k: v.to(cfg.dtype) for k, v in state_dict.items()}
    out: dict[str, torch.Tensor] = {
        "embed.W_E": sd["model.embed_tokens.weight"],
        "ln_final.w": sd["model.norm.weight"],
    }
    out["unembed.W_U"] = (sd["model.embed_tokens.weight"] if tied else sd["lm_head.weight"]).T
    out["unembed.b_U"] = torch.zeros(cfg.d_vocab_out, dtype=cfg.dtype)
    kv_prefix = kv_param_prefix(cfg.n_key_value_heads)
    for layer in range(cfg.n_layers):
        p, b = f"model.layers.{layer}.", f"blocks.{layer}."
        kv = sd[p + "self_attn.kv_proj_weight"]
        if kv.shape != (2 * d_head * n_kv, cfg.d_model):
            raise ValueError(
                f"{p}self_attn.kv_proj_weight has shape {tuple(kv.shape)}, expected {(2 * d_head * n_kv, cfg.d_model)}"
            )
        kv = einops.rearrange(kv, "(kv h) m -> kv h m", h=n_kv)  # kv = 2 d_h features, heads inner
        out[b + kv_prefix + "W_K"] = einops.rearrange(kv[:d_head], "d h m -> h m d")
        out[b + kv_prefix + "W_V"] = einops.rearrange(kv[d_head:], "d h m -> h m d")
        out[b + kv_prefix + "b_K"] = out[b + kv_prefix + "b_V"] = torch.zeros(
            n_kv, d_head, dtype=cfg.dtype
        )
        out[b + "attn.W_Q"] = einops.rearrange(
            sd[p + "self_attn.q_proj.weight"], "(n h) m -> n m h", n=cfg.n_heads
        )
        out[b + "attn.b_Q"] = torch.zeros(cfg.n_heads, d_head, dtype=cfg.dtype)
        out[b + "attn.W_O"] = einops.rearrange(
            sd[p + "self_attn.o_proj.weight"], "m (n h) -> n h m", n=cfg.n_heads
        )
        out[b + "attn.b_O"] = torch.zeros(cfg.d_model, dtype=cfg.dtype)
        out[b + "ln1.w"] = sd[p + "input_layernorm.weight"]
        out[b + "ln2.w"] = sd[p + "post_attention_layernorm.weight"]
        out[b + "mlp.W_gate"] = sd[p + "mlp.gate_proj.weight"].T
        out[b + "mlp.W_in"] = sd[p + "mlp.up_proj.weight"].T
        out[b + "mlp.W_out"] = sd[p + "mlp.down_proj.weight"].T
        assert cfg.d_mlp is not None  # config_from_official sets it from intermediate_size
        out[b + "mlp.b_in"] = torch.zeros(cfg.d_mlp, dtype=cfg.dtype)
        out[b + "mlp.b_out"] = torch.zeros(cfg.d_model, dtype=cfg.dtype)
        if layer:
            route = sd[p + "self_attn.lime_router.static_weights"]
            if route.shape != (n_kv, (layer + 1) * n_kv):
                raise ValueError(
                    f"{p}self_attn.lime_router.static_weights has shape {tuple(route.shape)}, expected {(n_kv, (layer + 1) * n_kv)}"
                )
            out[b + "lime.route"] = route.reshape(
                n_kv, layer + 1, n_kv
            )  # (R, (l+1) R), layer-major
    return {k: v.contiguous() for k, v in out.items()}


def load_official_state_dict(
    state_dict: dict[str, torch.Tensor],
    cfg: LIMeConfig,
    tie_word_embeddings: bool = False,
    tokenizer: Any = None,
) -> HookedLIMeTransformer:
    """Build a HookedLIMeTransformer from an official v2 state dict; every parameter must be set."""
    model = HookedLIMeTransformer(cfg, tokenizer=tokenizer)
    params = convert_official_state_dict(state_dict, cfg, tie_word_embeddings)
    missing = sorted(set(dict(model.named_parameters())) - set(params))
    unexpected = sorted(set(params) - set(dict(model.named_parameters())))
    if missing or unexpected:  # a TransformerLens config flag this converter does not map
        raise ValueError(f"converted state dict: missing {missing}, unexpected {unexpected}")
    model.load_state_dict(params, strict=False)  # buffers (rotary tables, masks) are rebuilt
    return model


def from_official_checkpoint(
    path: str | os.PathLike[str], tokenizer: Any = None, **overrides: Any
) -> HookedLIMeTransformer:
    """Folder with the official ``config.json`` + ``model.safetensors`` -> HookedLIMeTransformer."""
    folder = Path(path)
    hf_config = json.loads((folder / "config.json").read_text())
    cfg = config_from_official(hf_config, **overrides)
    state = load_file(str(folder / "model.safetensors"))
    return load_official_state_dict(
        state, cfg, hf_config.get("tie_word_embeddings", False), tokenizer
    )

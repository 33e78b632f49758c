"""Official corl-team/lime v1 ``LIMeForCausalLM`` checkpoints <-> residual-mode HookedLIMeTransformer.

v1 (paper v1 §3; repo commit 601cd30): layer l >= 1 stacks S = [emb, X_1 .. X_l] (the residual
inputs of layers 0..l), normalises every source with its own RMSNorm, mixes them per head with
weights w (one softmax over the l+1 sources per head) and projects head h's mixture m_h with
per-head K and V maps: K_h = m_h W_K^h, V_h = m_h W_V^h. K and V read the SAME mixture, through
separate projections. Queries come from the usual ``input_layernorm``. Layer 0 is a plain Llama
layer. That is exactly ``lime_mode="residual"``: ``blocks.{l}.lime.ln`` is the source norm and
the attention's own W_K / W_V are the per-head projections.

Official layout, L layers, H heads (v1 routes per attention head, so K/V heads = H), head size d_h:
- layer 0: HF Llama ``self_attn.{q,k,v,o}_proj.weight``.
- layer l >= 1: ``self_attn.q_proj_default.weight`` (H d_h, D), ``self_attn.o_proj.weight``,
  ``self_attn.{k,v}_proj_lime.lime_kv_proj`` (1, H, D, d_h) (``x @ W`` per head),
  ``input_layernorm_lime.weight`` (D,), and the router ``attention_router.``:
  static ``static_weights`` (H, l+1), w = softmax over sources;
  dynamic ``dynamic_proj.0.weight`` ((l+1) H, D), no bias, read as (H, l+1) per token from the
  normed own input; top-p: the static logits plus a ``top_p_weights`` buffer (H, l+1), the
  pruned softmax before renormalisation (optional here: when no layer has it, the mask is
  recomputed from the logits, as the official ``update_mask`` does).
- Everything else is HF Llama (``lime_lens.official.convert_llama``). The LIMe options (dynamic, top_p,
  start_lime) live in the training config, not in config.json: pass ``top_p`` for top-p models.

Not representable, refused: ``start_lime`` > 1 (vanilla layers above 0 appear as unknown k_proj
keys), ``descending=False`` top-p masks and masks that are stale with respect to the logits (the
``top_p_weights`` check below), num_key_value_heads != num_attention_heads.
"""

from __future__ import annotations

import os
from typing import Any

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
from lime_lens.routers.lookups import top_p_weights

ROUTER = "attention_router."
_LOOKUP_KEYS: dict[str, tuple[str, ...]] = {
    "static": ("static_weights",),
    "dynamic": ("dynamic_proj.0.weight",),
    "top_p": ("static_weights", "top_p_weights"),
}


def _q_key(layer: int) -> str:
    return "self_attn.q_proj_default.weight" if layer else "self_attn.q_proj.weight"


def config_from_official_v1(
    hf_config: dict[str, Any], lookup: str = "static", top_p: float | None = None, **overrides: Any
) -> LIMeConfig:
    """LIMeConfig (residual mode, ``lime_lookup=lookup``) from the v1 model's HF config.json."""
    kwargs = llama_config_kwargs(hf_config)
    if kwargs["n_key_value_heads"] is not None:
        raise ValueError(
            f"num_key_value_heads ({hf_config['num_key_value_heads']}) != num_attention_heads: "
            "official v1 LIMe routes per attention head and needs full multi-head attention"
        )
    kwargs |= dict(lime_mode="residual", lime_lookup=lookup)
    if top_p is not None:
        kwargs["lime_top_p"] = top_p
    kwargs.update(overrides)
    return LIMeConfig(**kwargs)


def lookup_of(state_dict: dict[str, torch.Tensor], top_p: float | None) -> str:
    """The v1 router kind the layer-1 keys show ("static", "dynamic"; "top_p" when ``top_p`` set)."""
    prefix = "model.layers.1." + ROUTER
    if prefix + "dynamic_proj.0.weight" in state_dict:
        if top_p is not None:
            raise ValueError(f"top_p={top_p} is set, but {prefix}dynamic_proj.0.weight is dynamic")
        return "dynamic"
    return "static" if top_p is None else "top_p"


def official_v1_layout(cfg: LIMeConfig, tied: bool) -> Layout:
    """Every key of the official v1 state dict for ``cfg`` and its shape (the module docstring)."""
    D, H, dh = cfg.d_model, cfg.n_heads, cfg.d_head
    layout = llama_layout(cfg, tied, _q_key)
    layout |= {f"model.layers.0.self_attn.{w}_proj.weight": (H * dh, D) for w in "kv"}
    for layer in range(1, cfg.n_layers):
        p = f"model.layers.{layer}."
        layout |= {p + f"self_attn.{w}_proj_lime.lime_kv_proj": (1, H, D, dh) for w in "kv"}
        layout[p + "input_layernorm_lime.weight"] = (D,)
        for name in _LOOKUP_KEYS[cfg.lime_lookup]:
            rows = H * (layer + 1) if name.startswith("dynamic") else H
            layout[p + ROUTER + name] = (
                (rows, D) if name.startswith("dynamic") else (rows, layer + 1)
            )
    return layout


def _check_top_p_mask(
    sd: dict[str, torch.Tensor], key: str, logits: torch.Tensor, p: float
) -> None:
    """Our top-p router recomputes the mask from the logits: the stored mask must agree."""
    stored = sd[key].to(torch.float64)
    mask_ok = stored.sum(-1).min() > 0
    ours = top_p_weights(logits.to(torch.float64), p)
    if not mask_ok or not torch.allclose(stored / stored.sum(-1, keepdim=True), ours, atol=1e-6):
        raise ValueError(
            f"{key} is not the top-{p} pruning of softmax(static_weights) (a mask from other "
            "logits, descending=False, or another top_p): the top-p router cannot reproduce it"
        )


def convert_official_v1_state_dict(
    state_dict: dict[str, torch.Tensor], cfg: LIMeConfig, tie_word_embeddings: bool = False
) -> dict[str, torch.Tensor]:
    """Official v1 state dict -> HookedLIMeTransformer (residual mode) names; biases are zeros."""
    if cfg.lime_mode != "residual" or cfg.lime_lookup not in _LOOKUP_KEYS:
        raise ValueError("the official v1 checkpoint is residual mode: cfg.lime_mode='residual'")
    refuse_other_version(state_dict, 1)
    tied = tie_word_embeddings and "lm_head.weight" not in state_dict
    layout = official_v1_layout(cfg, tied)
    no_masks = not any(k.endswith("top_p_weights") for k in state_dict)
    if no_masks:  # files saved without the buffer: the mask is recomputed from the logits
        layout = {k: v for k, v in layout.items() if not k.endswith("top_p_weights")}
    check_layout(state_dict, layout, "official LIMe v1")
    sd = {k: v.to(cfg.dtype) for k, v in state_dict.items()}
    out = llama_to_ours(sd, cfg, tied, _q_key)
    H, dh = cfg.n_heads, cfg.d_head
    zeros = torch.zeros(H, dh, dtype=cfg.dtype)
    for layer in range(cfg.n_layers):
        p, b = f"model.layers.{layer}.", f"blocks.{layer}."
        out[b + "attn.b_K"] = out[b + "attn.b_V"] = zeros
        if not layer:
            for w in "KV":
                weight = sd[p + f"self_attn.{w.lower()}_proj.weight"]  # (H d_h, D)
                out[b + f"attn.W_{w}"] = weight.view(H, dh, -1).transpose(1, 2)
            continue
        for w in "KV":
            out[b + f"attn.W_{w}"] = sd[p + f"self_attn.{w.lower()}_proj_lime.lime_kv_proj"][0]
        out[b + "lime.ln.w"] = sd[p + "input_layernorm_lime.weight"]
        if cfg.lime_lookup == "dynamic":
            out[b + "lime.route_proj.weight"] = sd[p + ROUTER + "dynamic_proj.0.weight"]
            continue
        out[b + "lime.route"] = sd[p + ROUTER + "static_weights"]
        if cfg.lime_lookup == "top_p" and not no_masks:
            _check_top_p_mask(
                sd, p + ROUTER + "top_p_weights", out[b + "lime.route"], cfg.lime_top_p
            )
    return {k: v.contiguous() for k, v in out.items()}


def official_v1_state_dict(
    params: dict[str, torch.Tensor], cfg: LIMeConfig, tied: bool
) -> dict[str, torch.Tensor]:
    """Inverse of :func:`convert_official_v1_state_dict` (``lm_head`` left out when ``tied``)."""
    out = ours_to_llama(params, cfg, tied, _q_key)
    for layer in range(cfg.n_layers):
        p, b = f"model.layers.{layer}.", f"blocks.{layer}."
        if not layer:
            for w in "KV":  # [H, D, d_h] -> (H d_h, D)
                out[p + f"self_attn.{w.lower()}_proj.weight"] = (
                    params[b + f"attn.W_{w}"].transpose(1, 2).reshape(-1, cfg.d_model)
                )
            continue
        for w in "KV":
            out[p + f"self_attn.{w.lower()}_proj_lime.lime_kv_proj"] = params[b + f"attn.W_{w}"][
                None
            ]
        out[p + "input_layernorm_lime.weight"] = params[b + "lime.ln.w"]
        if cfg.lime_lookup == "dynamic":
            out[p + ROUTER + "dynamic_proj.0.weight"] = params[b + "lime.route_proj.weight"]
            continue
        logits = params[b + "lime.route"]
        out[p + ROUTER + "static_weights"] = logits
        if cfg.lime_lookup == "top_p":  # the official buffer: the pruned softmax, not renormalised
            kept = top_p_weights(logits, cfg.lime_top_p) > 0
            out[p + ROUTER + "top_p_weights"] = logits.softmax(-1) * kept
    return {k: v.contiguous() for k, v in out.items()}


def load_official_v1_state_dict(
    state_dict: dict[str, torch.Tensor],
    cfg: LIMeConfig,
    tie_word_embeddings: bool = False,
    tokenizer: Any = None,
) -> HookedLIMeTransformer:
    """Build a residual-mode HookedLIMeTransformer from an official v1 state dict."""
    params = convert_official_v1_state_dict(state_dict, cfg, tie_word_embeddings)
    return build_model(params, cfg, tokenizer)


def from_official_v1_checkpoint(
    path: str | os.PathLike[str],
    top_p: float | None = None,
    tokenizer: Any = None,
    **overrides: Any,
) -> HookedLIMeTransformer:
    """Folder with a v1 ``config.json`` + ``model.safetensors`` -> residual-mode model.

    The router kind comes from the keys (dynamic or static); ``top_p`` (the training config's
    ``lime_config.top_p``) selects the top-p lookup. A ``lime_config`` block in config.json (as
    ``lime_lens.official.export`` writes) supplies ``top_p`` when the argument is None.
    """
    hf_config, state = read_official_folder(path, 1)
    if top_p is None:
        top_p = (hf_config.get("lime_config") or {}).get("top_p")
    cfg = config_from_official_v1(hf_config, lookup_of(state, top_p), top_p, **overrides)
    tied = hf_config.get("tie_word_embeddings", False)  # LlamaConfig's default
    return load_official_v1_state_dict(state, cfg, tied, tokenizer)

"""Official corl-team/lime v2 folders <-> LIMeForCausalLM state dicts (key names and layouts).

The official ``LIMeForCausalLM`` (repo commit 4242812, ``src/lm/lime.py``) subclasses HF Llama and
saves ``model_type: "llama"``. Its keys are Llama's except, per layer l (R KV heads, head size d_h):
- ``model.layers.{l}.self_attn.kv_proj_weight``: (2 d_h R, D), feature f * R + h; f < d_h is K.
- ``model.layers.{l}.self_attn.lime_router.static_weights``: (R, (l+1) R), l >= 1, columns
  layer-major then head; here ``model.layers.{l}.lime.route`` [R, l+1, R], Llama's k_proj/v_proj
  rows head-major ((h d), D). ``lm_head.weight`` is absent when the embeddings are tied.
The v1 layout (residual routers) is refused here: ``lime_lens.official.convert_v1`` loads it into
HookedLIMeTransformer.
"""

from __future__ import annotations

from typing import Any

import torch

from lime_lens.hf.configuration import LIMeHFConfig

Layout = dict[str, tuple[int, ...]]
V1_MARKERS = ("attention_router.", "input_layernorm_lime.", "lime_kv_proj", "q_proj_default.")
IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)


def is_official_config(raw: dict[str, Any]) -> bool:
    """An official LIMe config.json: Llama's model_type with a LIMe block or class name."""
    return raw.get("model_type") == "llama" and (
        "lime_config" in raw or "LIMeForCausalLM" in (raw.get("architectures") or [])
    )


def official_config(raw: dict[str, Any]) -> LIMeHFConfig:
    """LIMeHFConfig (kv mode, paper v2) from an official config.json dict."""
    config = LIMeHFConfig.from_llama_dict(raw, lime_mode="kv")
    config.architectures = ["LIMeForCausalLM"]
    return config


def _dims(config: LIMeHFConfig) -> tuple[int, int, int, int, int, int]:
    n_kv, d_head = config.num_key_value_heads, config.head_dim
    assert n_kv is not None and d_head is not None  # LlamaConfig.__post_init__ fills them
    return (
        config.hidden_size,
        config.num_attention_heads * d_head,
        n_kv,
        d_head,
        config.intermediate_size,
        config.vocab_size,
    )


def official_layout(config: LIMeHFConfig, tied: bool) -> Layout:
    """Every key of the official v2 state dict and its shape (the module docstring)."""
    D, HD, R, dh, F, V = _dims(config)
    layout: Layout = {"model.embed_tokens.weight": (V, D), "model.norm.weight": (D,)}
    if not tied:
        layout["lm_head.weight"] = (V, D)
    for layer in range(config.num_hidden_layers):
        p = f"model.layers.{layer}."
        layout |= {
            p + "input_layernorm.weight": (D,),
            p + "post_attention_layernorm.weight": (D,),
            p + "self_attn.q_proj.weight": (HD, D),
            p + "self_attn.kv_proj_weight": (2 * dh * R, D),
            p + "self_attn.o_proj.weight": (D, HD),
            p + "mlp.gate_proj.weight": (F, D),
            p + "mlp.up_proj.weight": (F, D),
            p + "mlp.down_proj.weight": (D, F),
        }
        if layer:
            layout[p + "self_attn.lime_router.static_weights"] = (R, (layer + 1) * R)
    return layout


def check_official_state_dict(state: dict[str, torch.Tensor], layout: Layout) -> None:
    """A v1 key, a missing, unknown or mis-shaped key raises a ValueError naming it."""
    for key in sorted(state):
        if any(marker in key for marker in V1_MARKERS):
            raise ValueError(
                f"{key} is a key of the official v1 LIMe layout (residual routers), which "
                "LIMeForCausalLM does not build: load it with "
                "lime_lens.official.convert_v1.from_official_v1_checkpoint"
            )
    present = {k for k in state if not k.endswith(IGNORED_SUFFIXES)}
    for key in sorted(set(layout) - present):
        raise ValueError(
            f"official LIMe v2 checkpoint: missing key {key} (expected shape {layout[key]})"
        )
    for key in sorted(present - set(layout)):
        raise ValueError(f"official LIMe v2 checkpoint: unexpected key {key}")
    for key, shape in layout.items():
        if tuple(state[key].shape) != shape:
            raise ValueError(
                f"official LIMe v2 checkpoint: {key} has shape {tuple(state[key].shape)}, "
                f"expected {shape}"
            )


def official_to_hf(state: dict[str, torch.Tensor], config: LIMeHFConfig) -> dict[str, torch.Tensor]:
    """Official v2 state dict -> LIMeForCausalLM state dict (checked first; nothing is mutated)."""
    tied = bool(config.tie_word_embeddings) and "lm_head.weight" not in state
    check_official_state_dict(state, official_layout(config, tied))
    D, _, R, dh, _, _ = _dims(config)
    out = {k: v for k, v in state.items() if not k.endswith(IGNORED_SUFFIXES)}
    out.setdefault("lm_head.weight", state["model.embed_tokens.weight"])
    for layer in range(config.num_hidden_layers):
        p = f"model.layers.{layer}."
        kv = out.pop(p + "self_attn.kv_proj_weight").view(2 * dh, R, D)  # [f, h, D]
        out[p + "self_attn.k_proj.weight"] = kv[:dh].transpose(0, 1).reshape(R * dh, D)
        out[p + "self_attn.v_proj.weight"] = kv[dh:].transpose(0, 1).reshape(R * dh, D)
        if layer:  # (R, (l+1) R), columns layer-major -> [h, l', h']
            route = out.pop(p + "self_attn.lime_router.static_weights")
            out[p + "lime.route"] = route.reshape(R, layer + 1, R)
    return {k: v.contiguous() for k, v in out.items()}


def hf_to_official(state: dict[str, torch.Tensor], config: LIMeHFConfig) -> dict[str, torch.Tensor]:
    """Inverse of :func:`official_to_hf` (``lm_head`` left out when the embeddings are tied)."""
    D, _, R, dh, _, _ = _dims(config)
    out = dict(state)
    if config.tie_word_embeddings:
        out.pop("lm_head.weight", None)
    for layer in range(config.num_hidden_layers):
        p = f"model.layers.{layer}."
        k = out.pop(p + "self_attn.k_proj.weight").view(R, dh, D)
        v = out.pop(p + "self_attn.v_proj.weight").view(R, dh, D)
        out[p + "self_attn.kv_proj_weight"] = torch.cat([k, v], 1).transpose(0, 1).reshape(-1, D)
        if layer:
            out[p + "self_attn.lime_router.static_weights"] = out.pop(p + "lime.route").reshape(
                R, -1
            )
    return {k: v.contiguous() for k, v in out.items()}

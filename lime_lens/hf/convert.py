"""LIMeForCausalLM <-> HookedLIMeTransformer: the same weights, so the same logits.

Both models build their routers from the same ``lime_lens.routers`` classes, so the router
parameters (``model.layers.{l}.lime.*`` <-> ``blocks.{l}.lime.*``) copy by name; the Llama parts
map as TransformerLens' Llama converter maps them (``lime_lens.official.convert_llama``), and
k_proj / v_proj rows are head-major ``(h d)`` as TransformerLens' W_K [h, d_model, d]. Needs
transformer-lens < 4 (HookedLIMeTransformer is a HookedTransformer).
"""

from __future__ import annotations

from typing import Any

import einops
import torch

from lime_lens.config import LIMeConfig
from lime_lens.hf.configuration import LIMeHFConfig
from lime_lens.hf.modeling import LIMeForCausalLM
from lime_lens.model import HookedLIMeTransformer
from lime_lens.official.convert_llama import (
    build_model,
    llama_config_kwargs,
    llama_to_ours,
    ours_to_llama,
)
from lime_lens.official.export import check_exportable
from lime_lens.tl.internals import kv_param_prefix

_Q_KEY = lambda layer: "self_attn.q_proj.weight"  # noqa: E731
_BIASES = ("b_Q", "b_K", "b_V", "b_O", "b_in", "b_out", "b_U")


def hooked_config(config: LIMeHFConfig, **overrides: Any) -> LIMeConfig:
    """The LIMeConfig of the same architecture (plain RoPE only, as TransformerLens' Llama)."""
    rope = dict(config.rope_parameters or {})
    if rope.get("rope_type", "default") != "default":
        raise ValueError(
            f"rope_parameters={rope!r}: only plain RoPE (rope_type 'default') converts"
        )
    raw = config.to_dict() | {"rope_theta": rope.get("rope_theta", 10000.0), "rope_scaling": None}
    lime = {name: getattr(config, name) for name in LIMeHFConfig.lime_fields()}
    return LIMeConfig(**(llama_config_kwargs(raw) | lime | overrides))


def hf_config(cfg: LIMeConfig, tokenizer: Any = None) -> LIMeHFConfig:
    """The LIMeHFConfig of the same architecture (``check_exportable`` first: Llama shapes only)."""
    check_exportable(cfg)
    special = {
        f"{name}_token_id": getattr(tokenizer, f"{name}_token_id", None)
        for name in ("bos", "eos", "pad")
    }
    config = LIMeHFConfig(
        vocab_size=cfg.d_vocab,
        hidden_size=cfg.d_model,
        intermediate_size=cfg.d_mlp,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        num_key_value_heads=cfg.n_kv_heads,
        head_dim=cfg.d_head,
        hidden_act=cfg.act_fn,
        max_position_embeddings=cfg.n_ctx,
        rms_norm_eps=cfg.eps,
        rope_parameters={"rope_type": "default", "rope_theta": float(cfg.rotary_base)},
        tie_word_embeddings=False,
        lime_mode=cfg.lime_mode,
        lime_lookup=cfg.lime_lookup,
        lime_sources=cfg.lime_sources,
        lime_sources_j=cfg.lime_sources_j,
        **special,
    )
    config.architectures = ["LIMeForCausalLM"]
    return config


def hf_to_hooked(
    model: LIMeForCausalLM, tokenizer: Any = None, **overrides: Any
) -> HookedLIMeTransformer:
    """A HookedLIMeTransformer with ``model``'s weights (unprocessed: no folding)."""
    dtype = next(model.parameters()).dtype
    cfg = hooked_config(model.config, dtype=dtype, device="cpu", **overrides)
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    params = llama_to_ours(sd, cfg, False, _Q_KEY)
    kv_prefix = kv_param_prefix(cfg.n_key_value_heads)
    zeros = torch.zeros(cfg.n_kv_heads, cfg.d_head, dtype=dtype)
    for layer in range(cfg.n_layers):
        p, b = f"model.layers.{layer}.", f"blocks.{layer}."
        for w in "kv":
            weight = sd[p + f"self_attn.{w}_proj.weight"]
            params[b + kv_prefix + f"W_{w.upper()}"] = einops.rearrange(
                weight, "(n h) m -> n m h", n=cfg.n_kv_heads
            )
            params[b + kv_prefix + f"b_{w.upper()}"] = zeros
        lime = p + "lime."
        params |= {b + "lime." + k[len(lime) :]: v for k, v in sd.items() if k.startswith(lime)}
    return build_model(params, cfg, tokenizer)


def _llama_params(model: HookedLIMeTransformer) -> dict[str, torch.Tensor]:
    """The model's parameters; zero biases checked, RMSPre norms (after fold_ln) as unit gains."""
    cfg = model.cfg
    params = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    for name, value in params.items():
        if name.rsplit(".", 1)[-1].lstrip("_") in _BIASES and bool(value.any()):
            raise ValueError(f"{name} is not zero: LIMeForCausalLM (HF Llama) has no biases")
    ones = torch.ones(cfg.d_model, dtype=cfg.dtype)
    params.setdefault("ln_final.w", ones)
    for layer in range(cfg.n_layers):
        for norm in ("ln1", "ln2"):
            params.setdefault(f"blocks.{layer}.{norm}.w", ones)
    return params


def hooked_to_hf(model: HookedLIMeTransformer) -> LIMeForCausalLM:
    """A LIMeForCausalLM with ``model``'s weights; fields the Llama layout lacks raise."""
    cfg = model.cfg
    config = hf_config(cfg, model.tokenizer)
    params = _llama_params(model)
    sd = ours_to_llama(params, cfg, False, _Q_KEY)
    kv_prefix = kv_param_prefix(cfg.n_key_value_heads)
    for layer in range(cfg.n_layers):
        p, b = f"model.layers.{layer}.", f"blocks.{layer}."
        for w in "kv":
            weight = params[b + kv_prefix + f"W_{w.upper()}"]
            sd[p + f"self_attn.{w}_proj.weight"] = einops.rearrange(weight, "n m h -> (n h) m")
        lime = b + "lime."
        sd |= {p + "lime." + k[len(lime) :]: v for k, v in params.items() if k.startswith(lime)}
    hf = LIMeForCausalLM(config)
    hf.load_state_dict({k: v.contiguous() for k, v in sd.items()}, strict=True)
    return hf.to(cfg.dtype).eval()

"""LIMeForCausalLM <-> HookedLIMeTransformer: the same weights, so the same logits.

Both models build their routers from the same ``lime_lens.routers`` classes, so the router
parameters (``model.layers.{l}.lime.*`` <-> ``blocks.{l}.lime.*``) copy by name; the Llama parts
map as TransformerLens' Llama converter maps them (``lime_lens.official.convert_llama``), and
k_proj / v_proj rows are head-major ``(h d)`` as TransformerLens' W_K [h, d_model, d]. Needs
transformer-lens < 4 (HookedLIMeTransformer is a HookedTransformer).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
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
from lime_lens.official.export import check_exportable, llama_shape_fields
from lime_lens.serialization import atomic_write_dir
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
    # biases are mapped by hf_to_hooked (TransformerLens has them all but the gate's)
    raw = config.to_dict() | {"rope_theta": rope.get("rope_theta", 10000.0), "rope_scaling": None}
    raw |= {"attention_bias": False, "mlp_bias": False}
    lime = {name: getattr(config, name) for name in LIMeHFConfig.lime_fields()}
    return LIMeConfig(**(llama_config_kwargs(raw) | lime | overrides))


def hf_config(cfg: LIMeConfig, tokenizer: Any = None, biases: bool = False) -> LIMeHFConfig:
    """The LIMeHFConfig of the same architecture (``check_exportable`` first: Llama shapes only).
    ``biases``: carry TransformerLens' biases (attention, MLP and ``lm_head`` biases on)."""
    check_exportable(cfg)
    assert cfg.d_mlp is not None  # check_exportable refuses a missing d_mlp
    special: dict[str, Any] = {
        f"{name}_token_id": getattr(tokenizer, f"{name}_token_id", None)
        for name in ("bos", "eos", "pad")
    }
    config = LIMeHFConfig(
        **llama_shape_fields(cfg),
        rope_parameters={"rope_type": "default", "rope_theta": float(cfg.rotary_base)},
        tie_word_embeddings=False,
        attention_bias=biases,
        mlp_bias=biases,
        lm_head_bias=biases,
        **{name: getattr(cfg, name) for name in LIMeHFConfig.lime_fields()},
        **special,
    )
    config.architectures = ["LIMeForCausalLM"]
    return config


def _bias_pairs(cfg: LIMeConfig) -> list[tuple[str, str, str]]:
    """(HF key, TransformerLens key, TL -> HF rearrange) of every bias."""
    kv = kv_param_prefix(cfg.n_key_value_heads)
    pairs = [("lm_head.bias", "unembed.b_U", "v -> v")]
    for layer in range(cfg.n_layers):
        p, b = f"model.layers.{layer}.", f"blocks.{layer}."
        pairs += [
            (p + "self_attn.q_proj.bias", b + "attn.b_Q", "n h -> (n h)"),
            (p + "self_attn.k_proj.bias", b + kv + "b_K", "n h -> (n h)"),
            (p + "self_attn.v_proj.bias", b + kv + "b_V", "n h -> (n h)"),
            (p + "self_attn.o_proj.bias", b + "attn.b_O", "m -> m"),
            (p + "mlp.down_proj.bias", b + "mlp.b_out", "m -> m"),
        ]
    return pairs


def hf_to_hooked(
    model: LIMeForCausalLM, tokenizer: Any = None, **overrides: Any
) -> HookedLIMeTransformer:
    """A HookedLIMeTransformer with ``model``'s weights (unprocessed: no folding)."""
    dtype = next(model.parameters()).dtype
    assert isinstance(model.config, LIMeHFConfig)
    cfg = hooked_config(model.config, dtype=dtype, device="cpu", **overrides)
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    for key in (k for k in sd if k.endswith(("mlp.gate_proj.bias", "mlp.up_proj.bias"))):
        if bool(sd[key].any()):  # TransformerLens' gated MLP adds b_in after the gating
            raise ValueError(
                f"{key} is not zero: HookedLIMeTransformer's gated MLP has no bias inside the "
                "gate product ((act(x W_gate) * x W_in + b_in) W_out + b_out)"
            )
    params = llama_to_ours(sd, cfg, False, _Q_KEY)
    kv_prefix = kv_param_prefix(cfg.n_key_value_heads)
    for layer in range(cfg.n_layers):
        p, b = f"model.layers.{layer}.", f"blocks.{layer}."
        for w in "kv":
            weight = sd[p + f"self_attn.{w}_proj.weight"]
            params[b + kv_prefix + f"W_{w.upper()}"] = einops.rearrange(
                weight, "(n h) m -> n m h", n=cfg.n_kv_heads
            )
            params[b + kv_prefix + f"b_{w.upper()}"] = torch.zeros(
                cfg.n_kv_heads, cfg.d_head, dtype=dtype
            )
        lime = p + "lime."
        params |= {b + "lime." + k[len(lime) :]: v for k, v in sd.items() if k.startswith(lime)}
    for hf_key, tl_key, pattern in _bias_pairs(cfg):
        if hf_key in sd:  # a biased model (attention_bias / mlp_bias / lm_head_bias)
            to_tl = " -> ".join(reversed(pattern.split(" -> ")))
            params[tl_key] = einops.rearrange(
                sd[hf_key], to_tl, **({"h": cfg.d_head} if "h" in pattern else {})
            )
    return build_model(params, cfg, tokenizer)


def _is_bias(name: str) -> bool:
    return name.rsplit(".", 1)[-1].lstrip("_") in _BIASES


def _llama_params(cfg: LIMeConfig, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The parameters, RMSPre norms (after fold_ln) as unit gains."""
    params = {k: v.detach().cpu() for k, v in state.items()}
    ones = torch.ones(cfg.d_model, dtype=cfg.dtype)
    params.setdefault("ln_final.w", ones)
    for layer in range(cfg.n_layers):
        for norm in ("ln1", "ln2"):
            params.setdefault(f"blocks.{layer}.{norm}.w", ones)
    return params


def hooked_to_hf(model: HookedLIMeTransformer) -> LIMeForCausalLM:
    """A LIMeForCausalLM with ``model``'s weights; fields the Llama layout lacks raise. Bias-free
    (Llama's, the official layout) unless a bias is non-zero (a model trained in TransformerLens)."""
    return hf_from_state(model.cfg, model.state_dict(), model.tokenizer)


def hf_from_state(
    cfg: LIMeConfig, state: dict[str, torch.Tensor], tokenizer: Any = None
) -> LIMeForCausalLM:
    """:func:`hooked_to_hf` from a HookedLIMeTransformer's config and state dict."""
    params = _llama_params(cfg, state)
    biases = any(_is_bias(k) and bool(v.any()) for k, v in params.items())
    config = hf_config(cfg, tokenizer, biases)
    sd = ours_to_llama(params, cfg, False, _Q_KEY)
    kv_prefix = kv_param_prefix(cfg.n_key_value_heads)
    for layer in range(cfg.n_layers):
        p, b = f"model.layers.{layer}.", f"blocks.{layer}."
        for w in "kv":
            weight = params[b + kv_prefix + f"W_{w.upper()}"]
            sd[p + f"self_attn.{w}_proj.weight"] = einops.rearrange(weight, "n m h -> (n h) m")
        lime = b + "lime."
        sd |= {p + "lime." + k[len(lime) :]: v for k, v in params.items() if k.startswith(lime)}
        if biases:  # TL adds b_in after the gating: (... + b_in) W_out + b_out folds into down_proj
            zeros = torch.zeros(cfg.d_mlp, dtype=cfg.dtype)  # type: ignore[arg-type]
            sd[p + "mlp.gate_proj.bias"] = sd[p + "mlp.up_proj.bias"] = zeros
            sd[p + "mlp.down_proj.bias"] = (
                params[b + "mlp.b_out"] + params[b + "mlp.b_in"] @ params[b + "mlp.W_out"]
            )
    if biases:
        for hf_key, tl_key, pattern in _bias_pairs(cfg):
            sd.setdefault(hf_key, einops.rearrange(params[tl_key], pattern))
    hf = LIMeForCausalLM(config)
    hf.load_state_dict({k: v.contiguous() for k, v in sd.items()}, strict=True)
    hf.to(cfg.dtype)  # type: ignore[arg-type]  # transformers types .to through a wrapper
    return hf.eval()


def save_hf(
    cfg: LIMeConfig,
    state: dict[str, torch.Tensor],
    path: str | os.PathLike[str],
    tokenizer: Any = None,
    extra_json: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Write the Hugging Face folder of a HookedLIMeTransformer's weights (atomic): config.json
    (model_type "lime"), model.safetensors, the tokenizer files, and ``extra_json`` files."""
    model = hf_from_state(cfg, state, tokenizer)

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        for name, content in (extra_json or {}).items():
            (tmp / name).write_text(json.dumps(content, indent=2, sort_keys=True))

    return atomic_write_dir(path, write)

"""Export a HookedLIMeTransformer to the official corl-team/lime ``LIMeForCausalLM`` folder layout.

``to_official_checkpoint(model, path)`` writes ``config.json`` (an HF ``LlamaConfig`` dict) and
``model.safetensors`` in the official key layout: v2 for kv mode (paper v2 §4; the inverse of
``lime_lens.official.convert``), v1 for the residual static / dynamic / top-p routers (paper v1 §3; the
inverse of ``lime_lens.official.convert_v1``). Tied embeddings are written as the official trainer's saver
writes them: ``lm_head.weight`` left out and ``tie_word_embeddings: true``.

The official classes are built as ``LIMeForCausalLM(LlamaConfig.from_pretrained(path),
lime_config)``: their LIMe options are a training-config dataclass, not part of config.json. For
v1 the exporter records them under config.json's ``lime_config`` key (``dynamic``, ``top_p``,
``start_lime``, ``descending``; LlamaConfig keeps unknown keys as attributes).

Models the official layout cannot hold raise a ValueError naming the field or parameter: biases
that are not zero, LayerNorm, non-rotary or scaled positions, non-gated MLPs, GQA under v1, etc.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from lime_lens.config import LIMeConfig
from lime_lens.model import HookedLIMeTransformer
from lime_lens.official.convert import official_v2_state_dict
from lime_lens.official.convert_v1 import official_v1_state_dict
from lime_lens.router_registry import router_class
from lime_lens.routers.residual_dynamic import ResidualDynamicRouter
from lime_lens.routers.residual_static import ResidualStaticRouter
from lime_lens.routers.residual_top_p import ResidualTopPRouter
from lime_lens.serialization import atomic_write_dir

_V1_ROUTERS = {ResidualStaticRouter, ResidualDynamicRouter, ResidualTopPRouter}
_HF_ACTIVATIONS = ("silu", "relu", "gelu", "gelu_new")  # same function under both names
_BIASES: tuple[str, ...] = ("attn.b_Q", "attn.b_K", "attn.b_V", "attn.b_O", "attn._b_K")
_BIASES += ("attn._b_V", "mlp.b_in", "mlp.b_out", "unembed.b_U")


def official_version(cfg: LIMeConfig) -> int:
    """2 for the v2 kv router, 1 for the v1 residual routers; anything else raises."""
    router = router_class(cfg)
    if router.official_v2_layout:
        return 2
    if router in _V1_ROUTERS:
        if cfg.n_key_value_heads is not None:
            raise ValueError(
                "n_key_value_heads must be None: official v1 routes per attention head"
            )
        return 1
    raise ValueError(
        f"lime_mode={cfg.lime_mode!r}, lime_lookup={cfg.lime_lookup!r} ({router.__name__}) has "
        "no official LIMe layout"
    )


def check_exportable(cfg: LIMeConfig) -> None:
    """Raise a ValueError naming the first config field the official (HF Llama) layout lacks."""
    wrong = {
        "normalization_type": cfg.normalization_type not in ("RMS", "RMSPre"),
        "positional_embedding_type": cfg.positional_embedding_type != "rotary",
        "rotary_adjacent_pairs": cfg.rotary_adjacent_pairs,
        "rotary_dim": cfg.rotary_dim != cfg.d_head,
        "use_NTK_by_parts_rope": cfg.use_NTK_by_parts_rope,
        "gated_mlp": not cfg.gated_mlp,
        "act_fn": cfg.act_fn not in _HF_ACTIVATIONS,
        "attn_only": cfg.attn_only,
        "use_local_attn": cfg.use_local_attn,
        "use_qk_norm": cfg.use_qk_norm,
        "attn_scale": not cfg.use_attn_scale or cfg.attn_scale != math.sqrt(cfg.d_head),
        "scale_attn_by_inverse_layer_idx": cfg.scale_attn_by_inverse_layer_idx,
        "output_logits_soft_cap": cfg.output_logits_soft_cap > 0,
        "attn_scores_soft_cap": cfg.attn_scores_soft_cap > 0,
        "d_vocab_out": cfg.d_vocab_out != cfg.d_vocab,
        "d_mlp": cfg.d_mlp is None,
    }
    for field, bad in wrong.items():
        if bad:
            raise ValueError(
                f"{field}={getattr(cfg, field)!r} cannot be written to the official LIMe "
                "layout (an HF Llama model: RMSNorm, RoPE, gated MLP, no biases)"
            )


def llama_shape_fields(cfg: LIMeConfig) -> dict[str, Any]:
    """The ``LlamaConfig`` fields that carry a LIMe model's shape (official and HF forms alike)."""
    return dict(
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
    )


def official_hf_config(cfg: LIMeConfig, tied: bool) -> dict[str, Any]:
    """The config.json the official code reads (inverse of ``config_from_official``)."""
    version = official_version(cfg)
    hf: dict[str, Any] = dict(
        architectures=["LIMeForCausalLM"],
        model_type="llama",
        **llama_shape_fields(cfg),
        rope_theta=float(cfg.rotary_base),
        rope_scaling=None,
        attention_bias=False,
        attention_dropout=0.0,
        mlp_bias=False,
        pretraining_tp=1,
        tie_word_embeddings=tied,
        torch_dtype=str(cfg.dtype).removeprefix("torch."),
        use_cache=version == 2,  # v1 has no working KV cache
    )
    if version == 1:
        hf["lime_config"] = dict(
            dynamic=router_class(cfg) is ResidualDynamicRouter,
            top_p=cfg.lime_top_p if router_class(cfg) is ResidualTopPRouter else None,
            start_lime=1,
            descending=True,
        )
    return hf


def _official_params(model: HookedLIMeTransformer) -> dict[str, torch.Tensor]:
    """Our parameters, biases checked zero, RMSPre norms (after fold_ln) as unit gains."""
    cfg = model.cfg
    params = {k: v.detach() for k, v in model.state_dict().items()}
    for name, value in params.items():
        if name.endswith(_BIASES) and bool(value.any()):
            raise ValueError(f"{name} is not zero: the official LIMe layout has no biases")
    if cfg.normalization_type == "RMSPre":  # fold_ln moved the gains into the weights
        ones = torch.ones(cfg.d_model, dtype=cfg.dtype)
        params.setdefault("ln_final.w", ones)
        for layer in range(cfg.n_layers):
            for norm in ("ln1", "ln2") + (("lime.ln",) if layer else ()):
                params.setdefault(f"blocks.{layer}.{norm}.w", ones)
    return params


def to_official_state_dict(
    model: HookedLIMeTransformer, tie_word_embeddings: bool | None = None
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(config.json dict, state dict) in the official layout. ``tie_word_embeddings=None`` ties
    when ``W_U`` equals ``W_E`` transposed exactly; True with different matrices raises."""
    cfg = model.cfg
    check_exportable(cfg)
    version = official_version(cfg)
    params = _official_params(model)
    same = torch.equal(params["unembed.W_U"], params["embed.W_E"].T)
    tied = same if tie_word_embeddings is None else tie_word_embeddings
    if tied and not same:
        raise ValueError("tie_word_embeddings=True but unembed.W_U is not embed.W_E transposed")
    to_official = official_v2_state_dict if version == 2 else official_v1_state_dict
    state = {k: v.cpu().clone().contiguous() for k, v in to_official(params, cfg, tied).items()}
    return official_hf_config(cfg, tied), state


def to_official_checkpoint(
    model: HookedLIMeTransformer,
    path: str | os.PathLike[str],
    tie_word_embeddings: bool | None = None,
) -> Path:
    """Write ``config.json`` + ``model.safetensors`` in the official layout (atomic)."""
    hf_config, state = to_official_state_dict(model, tie_word_embeddings)

    def write(tmp: Path) -> None:
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(hf_config, indent=2, sort_keys=True))

    return atomic_write_dir(path, write)

"""Attention through ``torch.nn.functional.scaled_dot_product_attention`` when nothing reads the pattern.

TransformerLens computes attention explicitly: scores, mask, softmax, pattern, z. Only
``hook_attn_scores`` and ``hook_pattern`` need those intermediates; every other hook of the layer
(``hook_q/k/v``, ``hook_rot_q/k``, ``hook_z``, ``hook_result``, the LIMe route hooks, which run
inside ``calculate_qkv_matrices``) sees the same tensors when softmax(q kᵀ / scale) v is fused.

The path is chosen per layer and per forward by ``attn_impl``:
- "auto": fused unless a hook is attached to ``hook_attn_scores`` / ``hook_pattern`` (by
  ``add_hook``, ``run_with_hooks`` or ``run_with_cache``, forward or backward) or the layer uses a
  feature the fused call does not reproduce (:func:`explicit_reason`); then the stock path.
- "explicit": always the stock path.
- "sdpa": always fused; a pattern hook or an unsupported feature raises a ValueError naming it,
  so no hook is ever silently skipped.

:class:`FusedAttention` is the mixin that puts a TransformerLens attention class on this path.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int

from lime_lens.tl.internals import (
    ATTENTION_FORWARD_ARGS,
    EXPLICIT_ONLY_ARCHITECTURES,
    AbstractAttention,
    TransformerLensKeyValueCacheEntry,
    attention_direction,
    hook_is_attached,
    softcap_enabled,
)

ATTN_IMPLS = ("auto", "explicit", "sdpa")
"""Valid ``attn_impl`` values."""
PATTERN_HOOKS = ("hook_attn_scores", "hook_pattern")
"""The attention hooks that only the explicit path computes."""


def check_attn_impl(attn_impl: object, name: str = "attn_impl") -> None:
    """Raise a ValueError naming ``name`` unless ``attn_impl`` is one of :data:`ATTN_IMPLS`."""
    if attn_impl not in ATTN_IMPLS:
        raise ValueError(f"{name} must be one of {ATTN_IMPLS}, got {attn_impl!r}")


def attached_pattern_hook(attn: AbstractAttention) -> str | None:
    """The full name of the first pattern hook of ``attn`` that has a hook attached, else None."""
    for attr in PATTERN_HOOKS:
        hook_point = getattr(attn, attr)
        if hook_is_attached(hook_point):
            return getattr(hook_point, "name", None) or attr
    return None


def explicit_reason(attn: AbstractAttention, call: dict[str, Any]) -> str | None:
    """Why this layer/call needs the explicit path (a config field or argument), else None."""
    cfg = attn.cfg
    reasons = {
        "positional_embedding_type": cfg.positional_embedding_type
        not in ("standard", "rotary", "shortformer"),
        "attention_dir": attention_direction(attn) != "causal",
        "attn_types (local attention)": attn.attn_type != "global",
        "attn_scores_soft_cap": softcap_enabled(cfg.attn_scores_soft_cap),
        "use_attention_sinks": cfg.use_attention_sinks,
        "use_logn_attn": cfg.use_logn_attn,
        "clip_qkv": cfg.clip_qkv is not None,
        "load_in_4bit": cfg.load_in_4bit,
        "original_architecture": cfg.original_architecture in EXPLICIT_ONLY_ARCHITECTURES,
        "additive_attention_mask": call.get("additive_attention_mask") is not None,
        "position_bias": call.get("position_bias") is not None,
    }
    return next((name for name, needed in reasons.items() if needed), None)


def use_fused(attn: AbstractAttention, attn_impl: str, call: dict[str, Any]) -> bool:
    """Whether this forward of ``attn`` takes the fused path under ``attn_impl``."""
    check_attn_impl(attn_impl)
    if attn_impl == "explicit":
        return False
    hook, reason = attached_pattern_hook(attn), explicit_reason(attn, call)
    if attn_impl == "sdpa" and hook is not None:
        raise ValueError(
            f"attn_impl='sdpa' but a hook is attached to {hook}, which the fused path never "
            "computes; use attn_impl='auto' (switches that layer to the explicit path) or 'explicit'"
        )
    if attn_impl == "sdpa" and reason is not None:
        raise ValueError(f"attn_impl='sdpa' cannot reproduce this layer's {reason}; use 'auto'")
    return hook is None and reason is None


def sdpa_mask(
    n_query: int,
    n_key: int,
    attention_mask: Int[torch.Tensor, "batch key_pos"] | None,
    device: torch.device,
) -> Bool[torch.Tensor, "batch 1 query_pos key_pos"] | None:
    """The stock causal (+ padding) mask, or None where ``is_causal`` / no mask says the same.

    Query i sits at position ``n_key - n_query + i`` (after the cached keys). Queries that may
    attend nowhere (left padding) get every key here and a zero z afterwards, as the explicit path
    gives them (its NaN pattern rows are zeroed), without NaN in the backward pass.
    """
    if attention_mask is None and n_query in (1, n_key):
        return None
    offset = n_key - n_query
    query_pos = torch.arange(offset, n_key, device=device)
    allowed = torch.arange(n_key, device=device)[None, :] <= query_pos[:, None]
    allowed = allowed[None, None]
    if attention_mask is not None:
        allowed = allowed & attention_mask.to(device).bool()[:, None, None, :]
    return allowed


def sdpa_z(
    attn: AbstractAttention,
    q: Float[torch.Tensor, "batch pos n_heads d_head"],
    k: Float[torch.Tensor, "batch kv_pos n_kv d_head"],
    v: Float[torch.Tensor, "batch kv_pos n_kv d_head"],
    attention_mask: Int[torch.Tensor, "batch kv_pos"] | None,
) -> Float[torch.Tensor, "batch pos n_heads d_head"]:
    """softmax(q kᵀ / attn_scale + causal mask) v, the explicit path's z, from one fused call."""
    mask = sdpa_mask(q.shape[1], k.shape[1], attention_mask, q.device)
    alive = None
    if mask is not None and attention_mask is not None:
        alive = mask.any(-1, keepdim=True)  # [batch, 1, pos, 1]
        mask = mask | ~alive
    z = F.scaled_dot_product_attention(
        q.transpose(1, 2),  # [batch, n_heads, pos, d_head]
        k.transpose(1, 2).to(q.dtype),  # [batch, n_kv, kv_pos, d_head]
        v.transpose(1, 2).to(q.dtype),
        attn_mask=mask,
        is_causal=mask is None and q.shape[1] > 1,
        scale=1.0 / attn.attn_scale,
        enable_gqa=k.shape[2] != q.shape[2],  # query head h reads KV head h // group, as TL
    )  # [batch, n_heads, pos, d_head]
    if alive is not None:
        z = torch.where(alive, z, torch.zeros((), dtype=z.dtype, device=z.device))
    return attn.hook_z(z.transpose(1, 2))  # [batch, pos, n_heads, d_head]


def project_out(
    attn: AbstractAttention, z: Float[torch.Tensor, "batch pos n_heads d_head"]
) -> Float[torch.Tensor, "batch pos d_model"]:
    """z W_O + b_O as the stock forward computes it (per-head ``hook_result`` if use_attn_result)."""
    z = z.to(attn.W_O.dtype)
    if attn.cfg.use_attn_result:
        # [batch, pos, n_heads, d_head, 1] * [1, 1, n_heads, d_head, d_model], summed over d_head
        result = attn.hook_result((z[..., None] * attn.W_O[None, None]).sum(-2))
        return result.sum(-2) + attn.b_O  # [batch, pos, d_model]
    w = attn.W_O.reshape(-1, attn.cfg.d_model).T  # [d_model, n_heads * d_head]
    return F.linear(z.reshape(z.shape[0], z.shape[1], -1), w, attn.b_O)


def sdpa_forward(
    attn: AbstractAttention,
    query_input: Any,
    key_input: Any,
    value_input: Any,
    past_kv_cache_entry: TransformerLensKeyValueCacheEntry | None = None,
    attention_mask: Int[torch.Tensor, "batch offset_pos"] | None = None,
) -> Float[torch.Tensor, "batch pos d_model"]:
    """The stock ``AbstractAttention.forward`` with the scores/softmax/pattern steps fused.

    Same hooks in the same order: ``calculate_qkv_matrices`` (hook_q/k/v and any LIMe route),
    the KV cache append, rotary (hook_rot_q/k), then hook_z and hook_result. The three inputs go
    to ``calculate_qkv_matrices`` untouched, as in the stock forward, so a subclass's own input
    type (LIMe's routed key input) reaches it.
    """
    q, k, v = attn.calculate_qkv_matrices(query_input, key_input, value_input)
    offset = 0
    if past_kv_cache_entry is not None:
        offset = past_kv_cache_entry.past_keys.size(1)
        k, v = past_kv_cache_entry.append(k, v)
    if attn.cfg.positional_embedding_type == "rotary":
        q = attn.hook_rot_q(attn.apply_rotary(q, offset, attention_mask))
        k = attn.hook_rot_k(attn.apply_rotary(k, 0, attention_mask))  # keys are cached unrotated
    return project_out(attn, sdpa_z(attn, q, k, v, attention_mask))


class FusedAttention(AbstractAttention):
    """Mixin before a TransformerLens attention class: ``forward`` fuses where :func:`use_fused`
    allows, else runs the parent's stock forward through ``super()``.

    ``class SDPAAttention(FusedAttention, Attention)`` is the whole of a fused class. ``attn_impl``
    is a plain attribute here; a subclass may make it a property over its config.
    """

    attn_impl: str = "auto"
    """"auto" | "explicit" | "sdpa" (:data:`ATTN_IMPLS`)."""

    def forward(self, *args: Any, **kwargs: Any) -> Float[torch.Tensor, "batch pos d_model"]:
        call = dict(zip(ATTENTION_FORWARD_ARGS, args, strict=False)) | kwargs
        if not use_fused(self, self.attn_impl, call):
            return super().forward(*args, **kwargs)
        return sdpa_forward(
            self,
            call["query_input"],
            call["key_input"],
            call["value_input"],
            call.get("past_kv_cache_entry"),
            call.get("attention_mask"),
        )

"""Attention that reads routed K/V: TransformerLens Attention / GroupedQueryAttention, one level down.

Queries always come from the layer's own ``ln1(resid_pre)`` (paper §4). The K/V side depends on
what the router reads (``LIMeRouter.source``):
- "kv" (v2): the input is 3-D; the layer's raw K/V (``hook_k_raw``/``hook_v_raw``, present when
  the router declares ``raw_kv_hooks``) are projected as usual, then ``kv_router`` mixes them with
  the earlier layers' raw K/V into ``hook_k``/``hook_v``. The parent then caches the MIXED K/V and
  applies rotary to the mixed keys (``hook_rot_k``).
- "residual" (v1): the input is the per-head mixture ``[batch, pos, n_kv, d_model]`` and is
  projected per head with the attention's own W_K / W_V.

Both classes run the fused path of ``lime_lens.tl.fused_attention`` under ``cfg.attn_impl``: the
route runs inside ``calculate_qkv_matrices``, which both paths call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from jaxtyping import Float
from transformer_lens.hook_points import HookPoint

from lime_lens.router_registry import router_class
from lime_lens.tl.fused_attention import attention_forward
from lime_lens.tl.internals import (
    Attention,
    GroupedQueryAttention,
    apply_qk_norm,
    complex_attn_linear,
    kv_weights,
    simple_attn_linear,
)

KVRouter = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
QKV = tuple[
    Float[torch.Tensor, "batch pos n_heads d_head"],
    Float[torch.Tensor, "batch kv_pos n_kv d_head"],
    Float[torch.Tensor, "batch kv_pos n_kv d_head"],
]


def lime_qkv(
    attn: LIMeAttention | LIMeGroupedQueryAttention,
    query_input: Float[torch.Tensor, "batch pos d_model"],
    key_input: Float[torch.Tensor, "batch kv_pos d_model"]
    | Float[torch.Tensor, "batch kv_pos n_kv d_model"],
    value_input: Float[torch.Tensor, "batch kv_pos d_model"]
    | Float[torch.Tensor, "batch kv_pos n_kv d_model"],
) -> QKV:
    """The shared ``calculate_qkv_matrices`` of both LIMe attention classes."""
    if attn.cfg.ungroup_grouped_query_attention:
        raise ValueError("ungroup_grouped_query_attention is not supported by LIMe models")
    W_K, b_K, W_V, b_V = kv_weights(attn)  # K/V stay at n_kv heads (routing is per KV head)
    q = attn.hook_q(simple_attn_linear(query_input, attn.W_Q, attn.b_Q))
    if key_input.ndim == 4:  # residual mode: K_h = m_h W_K^h, V_h = m_h W_V^h (v1)
        k = complex_attn_linear(key_input, W_K, b_K)
        v = complex_attn_linear(value_input, W_V, b_V)
    else:
        k = simple_attn_linear(key_input, W_K, b_K)
        v = simple_attn_linear(value_input, W_V, b_V)
        if attn.raw_kv_hooks:
            k, v = attn.hook_k_raw(k), attn.hook_v_raw(v)
            if attn.kv_router is not None:
                k, v = attn.kv_router(k, v)
    k, v = attn.hook_k(k), attn.hook_v(v)
    if attn.cfg.use_qk_norm:
        q, k = apply_qk_norm(attn, q, k)
    return q, k, v


def _add_lime_hooks(attn: Any) -> None:
    attn.kv_router = None  # set only for the duration of a routed forward
    attn.raw_kv_hooks = router_class(attn.cfg).raw_kv_hooks
    if attn.raw_kv_hooks:
        attn.hook_k_raw = HookPoint()  # [batch, pos, n_kv, d_head]
        attn.hook_v_raw = HookPoint()  # [batch, pos, n_kv, d_head]


def _routed_forward(
    attn: Any,
    parent: type[Attention | GroupedQueryAttention],
    kv_router: KVRouter | None,
    args: Any,
    kwargs: Any,
):
    # The router is a call argument, not a submodule: it lives at blocks.{l}.lime, and a second
    # registration under attn would duplicate its parameters in the state dict.
    attn.kv_router = kv_router
    try:
        return attention_forward(attn, parent, attn.cfg.attn_impl, args, kwargs)
    finally:
        attn.kv_router = None


class LIMeAttention(Attention):
    """Multi-head attention whose K/V come from a LIMe route."""

    kv_router: KVRouter | None
    raw_kv_hooks: bool
    hook_k_raw: HookPoint
    hook_v_raw: HookPoint

    def __init__(self, cfg: Any, attn_type: str = "global", layer_id: int | None = None):
        super().__init__(cfg, attn_type, layer_id)
        _add_lime_hooks(self)

    def forward(self, *args: Any, kv_router: KVRouter | None = None, **kwargs: Any):
        return _routed_forward(self, Attention, kv_router, args, kwargs)

    def calculate_qkv_matrices(self, query_input, key_input, value_input) -> QKV:  # type: ignore[override]
        return lime_qkv(self, query_input, key_input, value_input)


class LIMeGroupedQueryAttention(GroupedQueryAttention):
    """Grouped-query attention whose n_kv K/V heads come from a LIMe route."""

    kv_router: KVRouter | None
    raw_kv_hooks: bool
    hook_k_raw: HookPoint
    hook_v_raw: HookPoint

    def __init__(self, cfg: Any, attn_type: str = "global", layer_id: int | None = None):
        super().__init__(cfg, attn_type, layer_id)
        _add_lime_hooks(self)

    def forward(self, *args: Any, kv_router: KVRouter | None = None, **kwargs: Any):
        return _routed_forward(self, GroupedQueryAttention, kv_router, args, kwargs)

    def calculate_qkv_matrices(self, query_input, key_input, value_input) -> QKV:  # type: ignore[override]
        return lime_qkv(self, query_input, key_input, value_input)

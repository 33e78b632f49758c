"""Attention that reads routed K/V: TransformerLens Attention / GroupedQueryAttention, one level down.

Queries always come from the layer's own ``ln1(resid_pre)`` (paper §4). The K/V side depends on
what the router reads (``LIMeRouter.source``):
- "kv" (v2): the input is 3-D; the layer's raw K/V (``hook_k_raw``/``hook_v_raw``, present when
  the router declares ``raw_kv_hooks``) are projected as usual, then the block's
  :class:`~lime_lens.route_context.KVRoute` mixes them with the earlier layers' raw K/V into
  ``hook_k``/``hook_v``. The parent then caches the MIXED K/V and applies rotary to the mixed keys
  (``hook_rot_k``).
- "residual" (v1): the input is the per-head mixture ``[batch, pos, n_kv, d_model]`` and is
  projected per head with the attention's own W_K / W_V.

The route is an argument: ``attn(q_in, kv_in, kv_in, ..., route=route)``. TransformerLens's forward
(and the fused one) hand their three inputs untouched to ``calculate_qkv_matrices``, so the route
travels inside the key input (:class:`RoutedKeyInput`) to :func:`lime_qkv`; the module holds no
per-call state. Both classes run the fused path of ``lime_lens.tl.fused_attention`` under
``cfg.attn_impl``: the route runs inside ``calculate_qkv_matrices``, which both paths call.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from jaxtyping import Float
from transformer_lens.hook_points import HookPoint

from lime_lens.config import LIMeConfig
from lime_lens.route_context import KVRoute
from lime_lens.router_registry import router_class
from lime_lens.tl.fused_attention import FusedAttention
from lime_lens.tl.internals import (
    Attention,
    GroupedQueryAttention,
    apply_qk_norm,
    complex_attn_linear,
    kv_weights,
    simple_attn_linear,
)

QKV = tuple[
    Float[torch.Tensor, "batch pos n_heads d_head"],
    Float[torch.Tensor, "batch kv_pos n_kv d_head"],
    Float[torch.Tensor, "batch kv_pos n_kv d_head"],
]


class RoutedKeyInput(NamedTuple):
    """The key input of a routed forward, with the route that mixes its raw K/V."""

    key_input: Float[torch.Tensor, "batch kv_pos d_model"]
    route: KVRoute


def lime_qkv(
    attn: LIMeAttention | LIMeGroupedQueryAttention,
    query_input: Float[torch.Tensor, "batch pos d_model"],
    key_input: Float[torch.Tensor, "batch kv_pos d_model"]
    | Float[torch.Tensor, "batch kv_pos n_kv d_model"],
    value_input: Float[torch.Tensor, "batch kv_pos d_model"]
    | Float[torch.Tensor, "batch kv_pos n_kv d_model"],
    route: KVRoute | None = None,
) -> QKV:
    """The ``calculate_qkv_matrices`` of both LIMe attention classes; ``route`` as in "kv" mode."""
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
            if route is not None:
                k, v = route(k, v)
    k, v = attn.hook_k(k), attn.hook_v(v)
    if attn.cfg.use_qk_norm:
        q, k = apply_qk_norm(attn, q, k)
    return q, k, v


class LIMeAttentionMixin(FusedAttention):
    """What LIMe adds to a TransformerLens attention class: the raw K/V hooks, the route argument,
    routed ``calculate_qkv_matrices``, and the fused path under ``cfg.attn_impl``.

    The router is not a submodule: it lives at ``blocks.{l}.lime`` and reaches the attention as
    part of the route; a second registration under attn would duplicate its state-dict keys.
    """

    cfg: LIMeConfig
    raw_kv_hooks: bool
    hook_k_raw: HookPoint
    hook_v_raw: HookPoint

    def __init__(self, cfg: Any, attn_type: str = "global", layer_id: int | None = None):
        super().__init__(cfg, attn_type, layer_id)
        self.raw_kv_hooks = router_class(cfg).raw_kv_hooks
        if self.raw_kv_hooks:
            self.hook_k_raw = HookPoint()  # [batch, pos, n_kv, d_head]
            self.hook_v_raw = HookPoint()  # [batch, pos, n_kv, d_head]

    @property  # type: ignore[override]
    def attn_impl(self) -> str:
        """``cfg.attn_impl``: one switch for the whole model, saved with its config."""
        return self.cfg.attn_impl

    @attn_impl.setter
    def attn_impl(self, attn_impl: str) -> None:
        self.cfg.attn_impl = attn_impl

    def forward(
        self,
        query_input: Float[torch.Tensor, "batch pos d_model"],
        key_input: Float[torch.Tensor, "batch kv_pos d_model"]
        | Float[torch.Tensor, "batch kv_pos n_kv d_model"],
        value_input: Float[torch.Tensor, "batch kv_pos d_model"]
        | Float[torch.Tensor, "batch kv_pos n_kv d_model"],
        *args: Any,
        route: KVRoute | None = None,
        **kwargs: Any,
    ) -> Float[torch.Tensor, "batch pos d_model"]:
        """The parent's forward; ``route`` (kv mode) mixes this layer's raw K/V with earlier ones."""
        routed = key_input if route is None else RoutedKeyInput(key_input, route)
        return super().forward(query_input, routed, value_input, *args, **kwargs)

    def calculate_qkv_matrices(self, query_input, key_input, value_input) -> QKV:  # type: ignore[override]
        route = None
        if isinstance(key_input, RoutedKeyInput):
            key_input, route = key_input
        return lime_qkv(self, query_input, key_input, value_input, route)  # type: ignore[arg-type]


class LIMeAttention(LIMeAttentionMixin, Attention):
    """Multi-head attention whose K/V come from a LIMe route."""


class LIMeGroupedQueryAttention(LIMeAttentionMixin, GroupedQueryAttention):
    """Grouped-query attention whose n_kv K/V heads come from a LIMe route."""

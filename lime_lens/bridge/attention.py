"""LIMeAttentionBridge: TransformerBridge's Llama attention with the LIMe route between the K/V
projections and RoPE (paper v2 §4).

The bridge's own Llama attention (``PositionEmbeddingsAttentionBridge``) reimplements the Hugging
Face forward so that every hook fires on the live path (scores before softmax, pattern after). This
class keeps that design and TransformerLens's hook names, and adds what LIMe changes:

- ``hook_k_raw`` / ``hook_v_raw`` (aliases of ``k.hook_out`` / ``v.hook_out``): this layer's own
  projections, [batch, pos, n_kv, d_head], as HookedLIMeTransformer's ``attn.hook_k_raw``;
- the ``kv_router`` that ``LIMeDecoderLayer`` passes (files the raw K/V in the forward's buffer and
  calls ``blocks.{l}.lime``, whose ``hook_route`` fires there);
- ``hook_k`` / ``hook_v``: the ROUTED K/V, before RoPE, [batch, pos, n_kv, d_head], as
  HookedLIMeTransformer's ``attn.hook_k`` / ``hook_v`` (the stock bridge aliases them to the raw
  projections, which for LIMe are a different tensor).

The cache holds the routed K/V, as in ``lime_lens.hf.modeling.LIMeAttention``; both keyword names
transformers has used for it (``past_key_values``, ``cache``) are read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from jaxtyping import Float
from transformer_lens.hook_points import HookPoint
from transformer_lens.model_bridge.generalized_components import (
    PositionEmbeddingsAttentionBridge,
)
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb, repeat_kv

KVRouter = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

# TransformerLens config switches whose code paths (per-head forks of the residual, per-head
# results) this forward does not implement; a model with one of them set is refused, not run wrong.
UNSUPPORTED_SWITCHES = ("use_split_qkv_input", "use_attn_in", "use_attn_result")


class LIMeAttentionBridge(PositionEmbeddingsAttentionBridge):
    """``blocks.{l}.attn`` of a LIMe bridge: Llama's hooks plus the routed K/V hooks."""

    hook_aliases = {
        "hook_q": "q.hook_out",
        "hook_k_raw": "k.hook_out",
        "hook_v_raw": "v.hook_out",
        "hook_z": "o.hook_in",
    }
    # The per-head pre-ln1 forks (hook_attn_in / hook_q_input ...) are not implemented here.
    supports_split_qkv_fork = False

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.hook_k = HookPoint()  # [batch, pos, n_kv, d_head] routed K, before RoPE
        self.hook_v = HookPoint()  # [batch, pos, n_kv, d_head] routed V

    def _setup_qkv_hook_reshaping(self) -> None:
        super()._setup_qkv_hook_reshaping()
        # TransformerLens gives a de-aliased hook_k the raw projection's flat <-> per-head
        # conversion; the routed K/V reach these hooks already per head, so none applies.
        self.hook_k.hook_conversion = None
        self.hook_v.hook_conversion = None

    def forward(  # type: ignore[override]
        self,
        hidden_states: Float[torch.Tensor, "batch pos d_model"],
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        attention_mask: torch.Tensor | None = None,
        past_key_values: Any = None,
        kv_router: KVRouter | None = None,
        **kwargs: Any,
    ) -> tuple[Float[torch.Tensor, "batch pos d_model"], torch.Tensor]:
        self._refuse_switches()
        hf_attn: Any = self.original_component
        hidden_states = self.hook_in(hidden_states)  # [batch, pos, d_model]
        batch, pos = hidden_states.shape[:2]
        heads = (batch, pos, -1, hf_attn.head_dim)
        q = self.q(hidden_states).view(heads)  # hook_q fires inside: [batch, pos, n_heads, d_head]
        k = self.k(hidden_states).view(heads)  # hook_k_raw: [batch, pos, n_kv, d_head]
        v = self.v(hidden_states).view(heads)  # hook_v_raw: [batch, pos, n_kv, d_head]
        if kv_router is not None:  # layer l mixes the raw K/V of layers 0..l (§4)
            k, v = kv_router(k, v)
        k, v = self.hook_k(k), self.hook_v(v)  # [batch, pos, n_kv, d_head] routed
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [batch, head, pos, d]
        cos, sin = self._apply_position_embedding_hooks(position_embeddings)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)  # RoPE on the MIXED keys (§4)
        q, k = self.hook_rot_q(q), self.hook_rot_k(k)  # hooks see [batch, pos, head, d_head]
        cache = kwargs.get("cache") if past_key_values is None else past_key_values
        if cache is not None:  # the routed K/V: the cache keeps Llama's size (§4)
            k, v = cache.update(k, v, hf_attn.layer_idx)
        pattern = self._attention_weights(
            q, k, attention_mask, hf_attn.scaling, hf_attn.num_key_value_groups
        )
        z = torch.matmul(pattern, repeat_kv(v, hf_attn.num_key_value_groups))  # [b, head, p, d]
        z = z.transpose(1, 2).reshape(batch, pos, -1)  # [batch, pos, n_heads * d_head]
        return self.hook_out(self.o(z)), pattern  # hook_z fires inside o (o.hook_in)

    def _attention_weights(
        self,
        q: Float[torch.Tensor, "batch n_heads pos d_head"],
        k: Float[torch.Tensor, "batch n_kv kv_pos d_head"],
        attention_mask: torch.Tensor | None,
        scaling: float,
        groups: int,
    ) -> Float[torch.Tensor, "batch n_heads pos kv_pos"]:
        """Llama's eager attention weights, with ``hook_attn_scores`` (masked, before the softmax)
        and ``hook_pattern`` on the live path."""
        scores = torch.matmul(q, repeat_kv(k, groups).transpose(2, 3)) * scaling
        scores = self._apply_reconstruct_attention_mask(
            attn_scores=scores,
            attention_mask=attention_mask,
            seq_len=k.shape[-2],
            q_seq_len=q.shape[-2],
        )
        scores = self.hook_attn_scores(scores)  # [batch, n_heads, pos, kv_pos]
        pattern = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        dropout: float = getattr(self.original_component, "attention_dropout", 0.0)
        if self.training and dropout > 0.0:
            pattern = torch.nn.functional.dropout(pattern, p=dropout, training=True)
        return self.hook_pattern(pattern)  # [batch, n_heads, pos, kv_pos]

    def _refuse_switches(self) -> None:
        for switch in UNSUPPORTED_SWITCHES:
            if getattr(self.config, switch, False):
                raise NotImplementedError(
                    f"{switch}=True is not supported by the LIMe bridge attention ({self.name}): "
                    "its K/V inputs are routed across layers, not forked from this layer's residual"
                )

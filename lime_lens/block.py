"""LIMe transformer block: a TransformerBlock whose attention reads K/V routed across layers."""

from __future__ import annotations

import torch
from jaxtyping import Float, Int

from lime_lens.attention import LIMeAttention, LIMeGroupedQueryAttention
from lime_lens.config import LIMeConfig
from lime_lens.route_context import KVRoute, LIMeMemory
from lime_lens.router_registry import router_class
from lime_lens.routers.base import LIMeRouter
from lime_lens.tl.internals import TransformerBlock, TransformerLensKeyValueCacheEntry


class LIMeBlock(TransformerBlock):
    """Pre-norm block; ``blocks.{l}.lime`` holds the router (absent at layer 0)."""

    def __init__(self, cfg: LIMeConfig, block_index: int):
        super().__init__(cfg, block_index)
        attention = LIMeAttention if cfg.n_key_value_heads is None else LIMeGroupedQueryAttention
        attn_type = "global"
        if cfg.use_local_attn:
            assert cfg.attn_types is not None  # HookedTransformerConfig requires it with local attn
            attn_type = cfg.attn_types[block_index]
        self.attn = attention(cfg, attn_type, block_index)
        self.layer = block_index
        router: type[LIMeRouter] = router_class(cfg)
        self.routes_raw_kv = router.source == "kv"  # else it reads the residual inputs (v1)
        self.lime: LIMeRouter | None = router(cfg, block_index) if block_index >= 1 else None

    def forward(  # type: ignore[override]
        self,
        resid_pre: Float[torch.Tensor, "batch pos d_model"],
        memory: LIMeMemory,
        past_kv_cache_entry: TransformerLensKeyValueCacheEntry | None = None,
        attention_mask: Int[torch.Tensor, "batch offset_pos"] | None = None,
    ) -> Float[torch.Tensor, "batch pos d_model"]:
        resid_pre = self.hook_resid_pre(resid_pre)  # [batch, pos, d_model]
        q_in = self.ln1(resid_pre)
        kv_in, route = q_in, None
        if self.routes_raw_kv:  # the attention files its raw K/V in memory and reads the mixture
            route = KVRoute(memory, self.lime)
        else:
            memory.sources.append(resid_pre)  # S_l = own input, hooked: patches reach later routes
            if self.lime is not None:
                kv_in = self.lime(memory.sources)
        attn_out = self.hook_attn_out(
            self.attn(
                q_in,
                kv_in,
                kv_in,
                past_kv_cache_entry=past_kv_cache_entry,
                attention_mask=attention_mask,
                route=route,
            )
        )  # [batch, pos, d_model]
        if self.cfg.attn_only:
            return self.hook_resid_post(resid_pre + attn_out)
        resid_mid = self.hook_resid_mid(resid_pre + attn_out)  # [batch, pos, d_model]
        mlp_in = self.hook_mlp_in(resid_mid.clone()) if self.cfg.use_hook_mlp_in else resid_mid
        mlp_out = self.apply_mlp(self.ln2(mlp_in))
        return self.hook_resid_post(resid_mid + mlp_out)  # [batch, pos, d_model]

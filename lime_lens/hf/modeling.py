"""LIMeForCausalLM: Hugging Face Llama whose attention reads K/V routed across layers (paper v2 §4).

Layer l computes its raw K/V from ``input_layernorm(x)`` as Llama does and attends with the mixture
that its router ``model.layers.{l}.lime`` (the ``lime_lens.routers`` class HookedLIMeTransformer
uses) makes of the raw K/V of layers 0..l (the rows of the paper's kv_buffer). The layer takes the
earlier rows as positional tensors and returns its own row, so the model's loop, not the layer,
grows the buffer: a layer recomputed under gradient checkpointing is a pure function of its inputs,
and the reentrant checkpoint reaches the earlier rows' gradients. RoPE is applied to the mixed
keys, and the cache stores the mixed K/V: routing is position-wise, so a decode step needs only
the new token's raw K/V and the cache stays the size of Llama's (§4). Everything else is Llama's
code (norms, MLP, rotary, attention interface), so ``sdpa``/``eager``/``flash_attention_2``/
``flex_attention`` all apply.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from jaxtyping import Float
from torch import nn
from torch.nn.attention.flex_attention import BlockMask
from transformer_lens.hook_points import HookPoint
from transformers import GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache, DynamicCache
from transformers.masking_utils import create_causal_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.llama.modeling_llama import (
    LlamaMLP,
    LlamaRMSNorm,
    LlamaRotaryEmbedding,
    apply_rotary_pos_emb,
    eager_attention_forward,
)
from transformers.utils import logging
from transformers.utils.output_capturing import capture_outputs

from lime_lens.hf.configuration import LIMeHFConfig
from lime_lens.hf.loading import LIMeLoadingMixin
from lime_lens.router_registry import router_class
from lime_lens.routers.base import LIMeRouter
from lime_lens.routers.kv import to_heads_major

logger = logging.get_logger(__name__)

Mask = torch.Tensor | BlockMask | None  # what create_causal_mask builds for the backend
KVRouter = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
# transformers renamed the cache argument and output field (5.9: past_key_values; 5.25: cache).
CACHE_FIELD = (
    "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"
)


class LIMeAttention(nn.Module):
    """Llama attention; ``kv_router`` turns this layer's raw K/V into the routed ones."""

    def __init__(self, config: LIMeHFConfig, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.head_dim: int = config.head_dim  # type: ignore[assignment]  # filled by LlamaConfig
        n_heads, n_kv = config.num_attention_heads, config.num_key_value_heads
        assert n_kv is not None
        self.num_key_value_groups = n_heads // n_kv
        self.scaling = self.head_dim**-0.5
        self.attention_dropout = config.attention_dropout
        self.is_causal = True
        bias, d = config.attention_bias, config.hidden_size
        self.q_proj = nn.Linear(d, n_heads * self.head_dim, bias=bias)
        self.k_proj = nn.Linear(d, n_kv * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(d, n_kv * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(n_heads * self.head_dim, d, bias=bias)
        self.hook_k_raw = HookPoint()  # [batch, pos, n_kv, d_head]
        self.hook_v_raw = HookPoint()  # [batch, pos, n_kv, d_head]

    def forward(
        self,
        hidden_states: Float[torch.Tensor, "batch pos d_model"],
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        attention_mask: Mask = None,
        past_key_values: Cache | None = None,
        kv_router: KVRouter | None = None,
        **kwargs: Any,
    ) -> tuple[Float[torch.Tensor, "batch pos d_model"], torch.Tensor | None]:
        hidden_shape = (*hidden_states.shape[:-1], -1, self.head_dim)
        q = self.q_proj(hidden_states).view(hidden_shape).transpose(1, 2)  # [b, H, p, d_head]
        k = self.hook_k_raw(self.k_proj(hidden_states).view(hidden_shape))  # [b, p, R, d_head]
        v = self.hook_v_raw(self.v_proj(hidden_states).view(hidden_shape))  # [b, p, R, d_head]
        if kv_router is not None:  # mixed over layers 0..l (§4); RoPE after, it is per position
            k, v = kv_router(k, v)
        k, v = k.transpose(1, 2), v.transpose(1, 2)  # [b, R, p, d_head]
        cos, sin = position_embeddings
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        if past_key_values is not None:  # the mixed K/V: the cache keeps Llama's size (§4)
            k, v = past_key_values.update(k, v, self.layer_idx)
        # get_interface (not a dict lookup): transformers' set_attn_implementation inspects this
        # module's source for that call before it lets a model switch backends.
        attention = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        out, weights = attention(
            self,
            q,
            k,
            v,
            attention_mask,
            dropout=0.0 if not self.training else self.attention_dropout,
            scaling=self.scaling,
            **kwargs,
        )
        out = out.reshape(*hidden_states.shape[:-1], -1).contiguous()
        return self.o_proj(out), weights


class LIMeDecoderLayer(GradientCheckpointingLayer):
    """Llama decoder layer plus ``lime``, the router of layers l >= 1 (layer 0 reads itself)."""

    def __init__(self, config: LIMeHFConfig, layer_idx: int):
        super().__init__()
        self.hidden_size = config.hidden_size
        self.self_attn = LIMeAttention(config, layer_idx)
        self.mlp = LlamaMLP(config)
        self.input_layernorm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.post_attention_layernorm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        settings = config.router_settings()
        router: type[LIMeRouter] = router_class(settings)
        self.lime: LIMeRouter | None = router(settings, layer_idx) if layer_idx >= 1 else None

    def route(
        self,
        earlier_kv: tuple[torch.Tensor, ...],
        own_kv: list[torch.Tensor],
        k_raw: Float[torch.Tensor, "batch pos n_kv d_head"],
        v_raw: Float[torch.Tensor, "batch pos n_kv d_head"],
    ) -> tuple[
        Float[torch.Tensor, "batch pos n_kv d_head"], Float[torch.Tensor, "batch pos n_kv d_head"]
    ]:
        """Read the routed mixture of the earlier rows and this layer's raw K/V (as LIMeBlock);
        this layer's row goes to ``own_kv``, the out-slot of this one call."""
        own_kv.append(to_heads_major(k_raw, v_raw))
        if self.lime is None:  # layer 0: identity on its own heads (FirstLayerRouter)
            return k_raw, v_raw
        device = k_raw.device  # layers split over devices (accelerate's device_map)
        buffers = [b if b.device == device else b.to(device) for b in (*earlier_kv, own_kv[0])]
        return self.lime(buffers, batch=k_raw.shape[0], pos=k_raw.shape[1])

    def forward(
        self,
        hidden_states: Float[torch.Tensor, "batch pos d_model"],
        *earlier_kv: torch.Tensor,
        attention_mask: Mask = None,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        **kwargs: Any,
    ) -> tuple[Float[torch.Tensor, "batch pos d_model"], torch.Tensor]:
        """``earlier_kv``: the raw K/V rows of layers 0..l-1, heads-major (``to_heads_major``).
        Returns the new residual and this layer's row."""
        assert position_embeddings is not None  # LIMeModel computes them once per forward
        assert len(earlier_kv) == self.self_attn.layer_idx, "one K/V row per earlier layer"
        own_kv: list[torch.Tensor] = []
        attn_out, _ = self.self_attn(
            self.input_layernorm(hidden_states),
            position_embeddings,
            attention_mask,
            kv_router=partial(self.route, earlier_kv, own_kv),
            **kwargs,
        )
        hidden_states = hidden_states + attn_out
        return hidden_states + self.mlp(self.post_attention_layernorm(hidden_states)), own_kv[0]


class LIMePreTrainedModel(LIMeLoadingMixin, PreTrainedModel):
    config_class = LIMeHFConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True  # the layers are pure: see LIMeDecoderLayer.forward
    _no_split_modules = ["LIMeDecoderLayer"]
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    _can_record_outputs = {"hidden_states": LIMeDecoderLayer, "attentions": LIMeAttention}

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Llama's init, and the router's own (App. A) unless its route was loaded."""
        if isinstance(module, LIMeRouter):
            loaded = any(getattr(p, "_is_hf_initialized", False) for p in module.parameters())
            if not loaded:
                module.reset_parameters()
            return
        super()._init_weights(module)


class LIMeModel(LIMePreTrainedModel):
    def __init__(self, config: LIMeHFConfig):
        super().__init__(config)
        self.padding_idx = config.pad_token_id
        self.vocab_size = config.vocab_size
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, self.padding_idx)
        self.layers = nn.ModuleList(
            [LIMeDecoderLayer(config, i) for i in range(config.num_hidden_layers)]
        )
        self.norm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.rotary_emb = LlamaRotaryEmbedding(config=config)
        self.gradient_checkpointing = False  # set by gradient_checkpointing_enable
        self.post_init()

    @capture_outputs
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        cache: Cache | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPast:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        cache = cache if cache is not None else past_key_values
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            # A recomputed layer would update the cache a second time (transformers 5.25 clears
            # only its own keyword, ``cache``, in GradientCheckpointingLayer).
            if use_cache or cache is not None:
                logger.warning_once("gradient checkpointing: training runs without the KV cache")
            use_cache, cache = False, None
        if use_cache and cache is None:
            cache = DynamicCache(config=self.config)
        if position_ids is None:
            past = cache.get_seq_length() if cache is not None else 0
            position_ids = torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device) + past
            position_ids = position_ids.unsqueeze(0)
        # cache passed by position: its keyword differs between transformers 5.9 and 5.25
        mask = create_causal_mask(self.config, inputs_embeds, attention_mask, cache, position_ids)
        hidden_states = inputs_embeds
        position_embeddings = self.rotary_emb(hidden_states, position_ids=position_ids)
        kv_buffers: list[torch.Tensor] = []  # this forward's raw K/V, layers 0..l (§4)
        for layer in self.layers[: self.config.num_hidden_layers]:
            hidden_states, own_kv = layer(
                hidden_states,
                *kv_buffers,  # positional: the reentrant checkpoint passes gradients to them
                attention_mask=mask,
                position_embeddings=position_embeddings,
                position_ids=position_ids,
                past_key_values=cache,
                **kwargs,
            )
            kv_buffers.append(own_kv)
        hidden_states = self.norm(hidden_states)
        cache_out: dict[str, Any] = {CACHE_FIELD: cache}
        return BaseModelOutputWithPast(last_hidden_state=hidden_states, **cache_out)


class LIMeForCausalLM(LIMePreTrainedModel, GenerationMixin):
    """``lime_lens.LIMeForCausalLM``: opens folders saved by itself and official LIMe v2 folders."""

    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}

    def __init__(self, config: LIMeHFConfig):
        super().__init__(config)
        self.model = LIMeModel(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=config.lm_head_bias)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        cache: Cache | None = None,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        kwargs.pop("return_dict", None)
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=cache if cache is not None else past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(out.last_hidden_state[:, keep, :])
        loss = None
        if labels is not None:
            loss = self.loss_function(
                logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs
            )
        return CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            hidden_states=out.hidden_states,
            attentions=out.attentions,
            **{CACHE_FIELD: getattr(out, CACHE_FIELD)},
        )

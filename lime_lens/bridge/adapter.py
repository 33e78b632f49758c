"""LIMeArchitectureAdapter: TransformerBridge's adapter for ``lime_lens.LIMeForCausalLM``.

A LIMe model is a Llama whose attention reads K/V routed across layers (paper v2 §4), so the
adapter is TransformerLens's Llama adapter with two changes per block:
- ``attn`` is :class:`~lime_lens.bridge.attention.LIMeAttentionBridge` (the route between the
  K/V projections and RoPE; ``hook_k_raw`` / ``hook_v_raw`` raw, ``hook_k`` / ``hook_v`` routed);
- ``lime`` is :class:`~lime_lens.bridge.router.LIMeRouterBridge` around ``model.layers.{l}.lime``
  (``blocks.{l}.lime.hook_route``), absent at layer 0 as in HookedLIMeTransformer.

TransformerLens finds it under the key ``LIMeForCausalLM`` (``config.architectures[0]`` of a saved
folder) through the ``transformer_lens.architectures`` entry point, or through
:func:`lime_lens.bridge.register_adapter`, which ``import lime_lens`` calls.
"""

from __future__ import annotations

from typing import Any

from transformer_lens.model_bridge.generalized_components import (
    BlockBridge,
    LinearBridge,
    RMSNormalizationBridge,
)
from transformer_lens.model_bridge.supported_architectures.llama import (
    LlamaArchitectureAdapter,
)

from lime_lens.bridge.attention import LIMeAttentionBridge
from lime_lens.bridge.router import LIMeRouterBridge, UnsupportedLIMeModel, check_router
from lime_lens.hf.configuration import LIMeHFConfig
from lime_lens.hf.official import is_official_config, official_config

ARCHITECTURE = "LIMeForCausalLM"
FORK_ALIASES = ("hook_attn_in", "hook_q_input", "hook_k_input", "hook_v_input")


class LIMeBlockBridge(BlockBridge):
    """Llama's block bridge without the per-head residual forks (``hook_attn_in``,
    ``hook_q_input`` ...): LIMe's K/V inputs come from the route, not from this layer's residual."""

    def __init__(self, name: str, submodules: dict[str, Any]):
        super().__init__(name, submodules=submodules)
        self.hook_aliases = {
            alias: target
            for alias, target in BlockBridge.hook_aliases.items()
            if alias not in FORK_ALIASES
        }


class LIMeArchitectureAdapter(LlamaArchitectureAdapter):
    """Llama's component mapping, with LIMe attention and the per-layer router."""

    _attention_bridge_cls = LIMeAttentionBridge

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        assert self.component_mapping is not None  # set by the Llama adapter
        self.component_mapping["blocks"] = LIMeBlockBridge(
            name="model.layers",
            submodules={
                "ln1": RMSNormalizationBridge(name="input_layernorm", config=self.cfg),
                "ln2": RMSNormalizationBridge(name="post_attention_layernorm", config=self.cfg),
                "attn": self._build_attention_bridge(),
                "lime": LIMeRouterBridge(name="lime", config=self.cfg),
                "mlp": self._gated_mlp(),
            },
        )

    def _build_attention_bridge(self) -> LIMeAttentionBridge:
        # The same construction as the Llama adapter's (TransformerLens 3.9 and 4.3 differ in
        # where it lives), with the LIMe attention class.
        return LIMeAttentionBridge(
            name="self_attn",
            config=self.cfg,
            submodules={
                "q": LinearBridge(name="q_proj"),
                "k": LinearBridge(name="k_proj"),
                "v": LinearBridge(name="v_proj"),
                "o": LinearBridge(name="o_proj"),
            },
            requires_attention_mask=True,
            requires_position_embeddings=True,
        )

    def prepare_loading(self, model_name: str, model_kwargs: dict) -> None:
        """Check the config before anything is loaded; an official LIMe folder (model_type
        "llama", which transformers would build as a plain Llama) is converted in memory."""
        super().prepare_loading(model_name, model_kwargs)
        config = model_kwargs.get("config")
        if isinstance(config, LIMeHFConfig):
            check_config(config)
            return
        raw = config.to_dict() if config is not None else {}
        if not is_official_config(raw):
            raise UnsupportedLIMeModel(
                f"{model_name}: architecture {ARCHITECTURE} with model_type "
                f"{raw.get('model_type')!r}: not a LIMe config (expected 'lime' or an official "
                "LIMe folder)"
            )
        # LIMeForCausalLM.from_pretrained converts an official folder in memory (lime_lens.hf);
        # the LIMe config makes AutoModelForCausalLM pick that class instead of Llama.
        lime = official_config(raw)
        check_config(lime)
        model_kwargs["config"] = lime

    def prepare_model(self, hf_model: Any) -> None:
        """Every layer l >= 1 holds a router the bridge maps; layer 0 holds none."""
        super().prepare_model(hf_model)
        for i, layer in enumerate(hf_model.model.layers):
            where = f"model.layers.{i}.lime"
            if i == 0 and layer.lime is not None:
                raise UnsupportedLIMeModel(f"{where}: layer 0 has no router in LIMe (§4)")
            if i >= 1:
                check_router(layer.lime, where)


def check_config(config: LIMeHFConfig) -> None:
    """The LIMe fields name a router this adapter maps (kv routing, paper v2), else raise."""
    if config.lime_mode != "kv":
        raise UnsupportedLIMeModel(
            f"lime_mode={config.lime_mode!r}: the LIMe bridge adapter maps kv routing only "
            "(paper v2 §4)"
        )

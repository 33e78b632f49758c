"""LIMeHFConfig: Hugging Face ``LlamaConfig`` plus the LIMe routing fields (``model_type = "lime"``).

The LIMe fields have the names and meanings of ``lime_lens.LIMeConfig`` (the HookedLIMeTransformer
config), so one router class serves both models. Only kv routing (paper v2 §4: static mixing of
the raw K/V heads of layers 0..l) builds here: the v1 residual routers hold TransformerLens' norm
components and mix residual states, which the Llama attention does not project per head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, no_type_check

import torch
from huggingface_hub.dataclasses import strict
from transformers import LlamaConfig

from lime_lens.router_registry import check_router_key


@dataclass(frozen=True)
class RouterSettings:
    """The ``lime_lens.routers.RouterConfig`` view of an HF config (what a router reads)."""

    lime_mode: str
    lime_lookup: str
    lime_sources: str
    lime_sources_j: int
    n_kv_heads: int
    dtype: torch.dtype = torch.float32
    normalization_type: str | None = "RMS"


# no_type_check: the test-time checker (pyproject addopts) would bind __init__ to the dataclass
# fields, but transformers configs also take legacy keys (``rope_theta``) through **kwargs.
@no_type_check
@strict
class LIMeHFConfig(LlamaConfig):
    """Llama config + LIMe routing; ``architectures`` is ``["LIMeForCausalLM"]`` once saved."""

    model_type = "lime"

    lime_mode: str = "kv"
    """Routing mechanism (``LIMeConfig.lime_mode``); only "kv" (paper v2 §4) builds here."""
    lime_lookup: str = "static"
    """``LIMeConfig.lime_lookup``; kv mode has the static router only."""
    lime_sources: str = "full"
    """``LIMeConfig.lime_sources`` (paper v2 App. D): "full", "average", "last_j", "first_j"."""
    lime_sources_j: int = 2
    """The j of "last_j" / "first_j"."""
    lm_head_bias: bool = False
    """A bias on ``lm_head`` (TransformerLens' ``unembed.b_U``), so models trained as
    HookedLIMeTransformer (which trains its biases) convert exactly; Llama has none."""

    def validate_lime(self) -> None:
        """Part of ``@strict`` validation: the LIMe fields name a router the HF model builds."""
        check_router_key(self.lime_mode, self.lime_lookup, self.lime_sources)
        if self.lime_mode != "kv":
            raise ValueError(
                f"lime_mode={self.lime_mode!r} is not supported by LIMeForCausalLM: only 'kv' "
                "(paper v2) routing; the v1 residual routers exist in HookedLIMeTransformer"
            )
        if isinstance(self.lime_sources_j, bool) or self.lime_sources_j < 1:
            raise ValueError(f"lime_sources_j must be an integer >= 1, got {self.lime_sources_j!r}")

    def router_settings(self) -> RouterSettings:
        """What the routers read. Their parameters take torch's default dtype, which
        ``from_pretrained(dtype=...)`` sets while it builds the model, as for every nn.Linear."""
        assert self.num_key_value_heads is not None  # LlamaConfig.__post_init__ fills it
        return RouterSettings(
            lime_mode=self.lime_mode,
            lime_lookup=self.lime_lookup,
            lime_sources=self.lime_sources,
            lime_sources_j=self.lime_sources_j,
            n_kv_heads=self.num_key_value_heads,
            dtype=torch.get_default_dtype(),
        )

    @classmethod
    def lime_fields(cls) -> tuple[str, ...]:
        """The config fields LIMe adds to Llama's."""
        return ("lime_mode", "lime_lookup", "lime_sources", "lime_sources_j")

    @classmethod
    def from_llama_dict(cls, llama: dict[str, Any], **lime: Any) -> LIMeHFConfig:
        """From a Llama ``config.json`` dict (model_type, architectures and any ``lime_config``
        block dropped) plus LIMe fields."""
        drop = {"model_type", "architectures", "lime_config", "transformers_version"}
        return cls(**{k: v for k, v in llama.items() if k not in drop}, **lime)

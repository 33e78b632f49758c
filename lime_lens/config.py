"""LIMeConfig: a TransformerLens config plus the LIMe routing fields (arXiv 2502.09245)."""

from __future__ import annotations

from dataclasses import dataclass, fields

try:
    from transformer_lens import HookedTransformerConfig
except ImportError as error:  # transformer-lens 4.0 removed HookedTransformer and its config
    raise ImportError(
        "LIMeConfig / HookedLIMeTransformer subclass TransformerLens's HookedTransformer(Config) "
        "and need transformer-lens<4; under transformer-lens 4 use lime_lens.LIMeForCausalLM "
        "(LIMeHFConfig) with TransformerBridge (lime_lens.bridge)"
    ) from error

from lime_lens.router_registry import check_router_key
from lime_lens.tl.fused_attention import check_attn_impl
from lime_lens.tl.internals import POST_NORM_ARCHITECTURES
from lime_lens.tl.switches import REFUSED_SWITCHES, switch_refusal

# Flags whose block/attention code paths the LIMe block does not reproduce: the switches a model
# also refuses after construction, and flags TransformerLens has no setter for.
_UNSUPPORTED_FLAGS = (
    *REFUSED_SWITCHES,
    "parallel_attn_mlp",
    "use_normalization_before_and_after",
    "load_in_4bit",
)


@dataclass
class LIMeConfig(HookedTransformerConfig):
    """HookedTransformerConfig for a LIMe model; every vanilla field keeps its meaning."""

    lime_mode: str = "kv"
    """Routing mechanism (with ``lime_lookup``, a key of ``lime_lens.router_registry``). "kv" (paper v2, §4): layer l mixes the raw K/V heads of layers 0..l
    with one static unconstrained matrix R^l. "residual" (paper v1): the K/V inputs of each head
    are a weighted mixture of the normalised residual states entering layers 0..l."""

    lime_lookup: str = "static"
    """Residual mode only: how the mixture weights are produced. "static" (softmax of per-layer
    logits), "dynamic" (softmax of a linear map of the normalised current hidden state, per token)
    or "top_p" (static softmax pruned to the top cumulative ``lime_top_p`` mass, renormalised)."""

    lime_top_p: float = 0.9
    """Probability mass kept by the "top_p" lookup (v1 Table 5 uses 0.9); must be in (0, 1]."""

    lime_sources: str = "full"
    """Which sources layer l may read (paper v2 App. D, Table 7). "full": layers 0..l. "average":
    a fixed uniform mixture, R^l[h, l', h'] = [h = h'] / (l + 1), no learned weights. "last_j":
    the buffers of layers l-j+1..l. "first_j": the buffers of layers 0..j-1 plus layer l's own
    (computed from the previous layer's output). Every restricted router keeps layer l's own
    buffer. kv mode only; the unread route entries are absent (no parameters), and read as 0 at
    ``lime.hook_route``."""

    lime_sources_j: int = 2
    """The j of "last_j" / "first_j" (Table 7 uses 2, 4, 6); an integer >= 1, ignored otherwise."""

    attn_impl: str = "auto"
    """How attention is computed. "auto": torch's fused ``scaled_dot_product_attention``, except
    in a layer whose ``hook_attn_scores`` / ``hook_pattern`` has a hook attached (or that uses a
    feature the fused call lacks, e.g. alibi), which runs the explicit TransformerLens path.
    "explicit": always the explicit path. "sdpa": always fused; an attached pattern hook raises.
    Every other hook fires with the same values on both paths (``lime_lens.tl.fused_attention``)."""

    def __post_init__(self) -> None:
        check_attn_impl(self.attn_impl)
        # (lime_mode, lime_lookup[, lime_sources]) must name a registered router
        # (lime_lens.router_registry); kv mode (paper v2) has one static router per layer.
        check_router_key(self.lime_mode, self.lime_lookup, self.lime_sources)
        j = self.lime_sources_j
        if isinstance(j, bool) or not isinstance(j, int) or j < 1:
            raise ValueError(f"lime_sources_j must be an integer >= 1, got {j!r}")
        if not 0.0 < float(self.lime_top_p) <= 1.0:
            raise ValueError(f"lime_top_p must be in (0, 1], got {self.lime_top_p}")
        super().__post_init__()
        n_kv = self.n_key_value_heads
        if n_kv is not None and (n_kv <= 0 or self.n_heads % n_kv != 0):
            raise ValueError(
                f"n_key_value_heads ({n_kv}) must be a positive divisor of n_heads ({self.n_heads})"
            )
        for flag in _UNSUPPORTED_FLAGS:
            if getattr(self, flag):
                if flag in REFUSED_SWITCHES:
                    raise ValueError(switch_refusal(flag))
                raise ValueError(f"{flag}=True is not supported by LIMe models")
        if self.positional_embedding_type == "shortformer":
            raise ValueError("positional_embedding_type='shortformer' is not supported by LIMe")
        if self.original_architecture in POST_NORM_ARCHITECTURES:
            raise ValueError(
                f"original_architecture={self.original_architecture!r} is post-norm; "
                "LIMe blocks are pre-norm"
            )

    def vanilla_config(self) -> HookedTransformerConfig:
        """The same architecture without LIMe: the HookedTransformerConfig that one-hot routes on
        each layer's own K/V reduce this model to (§4). Drops every field LIMeConfig adds
        (``lime_*``, ``attn_impl``) and the derived ``n_params``."""
        own = {f.name for f in fields(LIMeConfig)} - {
            f.name for f in fields(HookedTransformerConfig)
        }
        kept = {k: v for k, v in self.to_dict().items() if k not in own and k != "n_params"}
        return HookedTransformerConfig(**kept)

    @property
    def n_kv_heads(self) -> int:
        """KV heads R: ``n_key_value_heads`` under GQA, else ``n_heads``."""
        return self.n_key_value_heads if self.n_key_value_heads is not None else self.n_heads

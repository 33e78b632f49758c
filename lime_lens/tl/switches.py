"""TransformerLens switches (``HookedTransformer.set_{name}``) that a LIMe model cannot honour.

The LIMe block builds the query input and the routed K/V input itself (paper v2 §4, v1 §3), so the
block-level input hooks that these switches enable would never fire. ``LIMeConfig`` refuses them at
construction (with the same messages); the model refuses them in its setters and, if ``model.cfg``
was written directly, at the next forward.
"""

from __future__ import annotations

from transformer_lens import HookedTransformerConfig

REFUSED_SWITCHES = {
    "use_split_qkv_input": "the LIMe block builds the query input and the routed K/V input "
    "itself, so blocks.{l}.hook_q_input / hook_k_input / hook_v_input would never fire",
    "use_attn_in": "the LIMe block builds the query input and the routed K/V input itself, so "
    "blocks.{l}.hook_attn_in would never fire",
    "ungroup_grouped_query_attention": "routing mixes the n_key_value_heads K/V heads of every "
    "layer (v2 §4); the routed K/V stay at that many heads",
}
"""Switch (config field) -> why LIMe refuses to turn it on. The other switches
(``use_attn_result``, ``use_hook_mlp_in``) are honoured: their hooks fire as in vanilla."""


def switch_refusal(switch: str) -> str:
    """The ValueError message for turning ``switch`` on."""
    return f"{switch}=True is not supported by LIMe models: {REFUSED_SWITCHES[switch]}"


def check_switches(cfg: HookedTransformerConfig) -> None:
    """Raise a ValueError naming the first refused switch that ``cfg`` has on."""
    for switch in REFUSED_SWITCHES:
        if getattr(cfg, switch):
            raise ValueError(switch_refusal(switch))

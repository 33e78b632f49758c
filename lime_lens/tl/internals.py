"""Every TransformerLens internal that lime_lens relies on, in one place.

Checked against transformer-lens 3.9.0. ``tests/lime_lens/test_tl_internals.py`` pins each
assumption below (names exist, signatures keep their parameter order, shapes, state-dict keys),
so a TransformerLens upgrade that moves one of them fails there, loudly, and in one place.
Other lime_lens modules import TransformerLens' public API (``HookedTransformer``,
``HookedTransformerConfig``, ``HookPoint``) directly and everything else from here.

Assumptions:
- Attention: ``AbstractAttention.forward`` calls ``self.calculate_qkv_matrices(query_input,
  key_input, value_input)`` and then caches K/V and applies rotary to what it returns; that
  method is the override point for routed K/V (:data:`QKV_OVERRIDE`, :data:`QKV_ARGS`).
  ``_apply_qk_norm(x, norm)`` applies the QK norm per head.
- Grouped-query attention stores K/V at n_kv heads as private ``_W_K``, ``_W_V`` [n_kv, d_model,
  d_head] and ``_b_K``, ``_b_V`` [n_kv, d_head]; the public ``W_K`` etc. are repeat_interleaved
  to n_heads (:func:`kv_weights`, :func:`kv_param_prefix`).
- Block skeleton: ``TransformerBlock(cfg, block_index)`` has the attributes in
  :data:`BLOCK_ATTRIBUTES`; ``HookedTransformer.__init__`` builds ``TransformerBlock``\\s, which
  the LIMe model replaces afterwards.
- Forward skeleton: ``HookedTransformer`` has the members in :data:`MODEL_MEMBERS`, and the
  helpers imported below; ``check_hooks_to_add`` takes :data:`CHECK_HOOKS_TO_ADD_ARGS`.
- Weight processing: state-dict keys ``blocks.{l}.ln1.w`` / ``.b``, ``attn.W_Q`` / ``b_Q``,
  ``attn.(_)W_K`` ...; ``load_and_process_state_dict`` calls ``fill_missing_keys`` (which would
  re-initialise absent weights) and, with fold_ln, turns LN/RMS into LNPre/RMSPre modules.
- Caching: ``HookedRootModule.get_caching_hooks`` takes :data:`GET_CACHING_HOOKS_ARGS` and returns
  ``(cache, fwd_hooks, bwd_hooks)`` with ``(hook_name, fn)`` pairs; ``run_with_cache`` builds its
  hooks through it (unwrapping ``pos_slice`` with :class:`Slice`). Backward entries are cached
  under ``name + "_grad"``.
- Fused attention: ``AbstractAttention.forward`` takes :data:`ATTENTION_FORWARD_ARGS`; its steps
  between the rotary hooks and ``hook_z`` (scores, causal mask, ``hook_attn_scores``, softmax,
  ``hook_pattern``) are what ``lime_lens.tl.fused_attention`` replaces; the causal mask direction is
  ``_attention_dir_override or cfg.attention_dir`` (:func:`attention_direction`); QK-norm of
  :data:`EXPLICIT_ONLY_ARCHITECTURES` runs inside that forward. ``HookPoint.add_hook`` registers
  PyTorch forward / full-backward hooks on the HookPoint (:func:`hook_is_attached`).
- Switches: the ``set_*`` toggles of ``HookedTransformer`` are exactly :data:`MODEL_SWITCHES`, each
  writing the config field of the same name.
- Linear layout: ``GatedMLP.forward`` and ``Unembed.forward`` call ``F.linear(x, W.T.contiguous())``
  on the weights in :data:`LINEAR_WEIGHTS` (to feed F.linear HF's [out, in] layout, so bf16 sums
  match HF); ``lime_lens.tl.linear_layout`` makes that copy free.
"""

from __future__ import annotations

import torch
from transformer_lens.cache.key_value_cache import TransformerLensKeyValueCache
from transformer_lens.cache.key_value_cache_entry import TransformerLensKeyValueCacheEntry
from transformer_lens.components import (
    AbstractAttention,
    Attention,
    GatedMLP,
    GroupedQueryAttention,
    LayerNorm,
    LayerNormPre,
    RMSNorm,
    RMSNormPre,
    TransformerBlock,
    Unembed,
)
from transformer_lens.hook_points import HookPoint
from transformer_lens.HookedTransformer import Output
from transformer_lens.utilities import (
    USE_DEFAULT_VALUE,
    LocallyOverridenDefaults,
    Slice,
    TypedModuleList,
    apply_softcap,
    get_device_for_block_index,
)
from transformer_lens.utilities.activation_functions import softcap_enabled
from transformer_lens.utilities.architectures import POST_NORM_ARCHITECTURES
from transformer_lens.utilities.attention import complex_attn_linear, simple_attn_linear

__all__ = [
    "ATTENTION_FORWARD_ARGS",
    "BLOCK_ATTRIBUTES",
    "CHECK_HOOKS_TO_ADD_ARGS",
    "EXPLICIT_ONLY_ARCHITECTURES",
    "GET_CACHING_HOOKS_ARGS",
    "LINEAR_WEIGHTS",
    "MODEL_MEMBERS",
    "MODEL_SWITCHES",
    "POST_NORM_ARCHITECTURES",
    "QKV_ARGS",
    "QKV_OVERRIDE",
    "USE_DEFAULT_VALUE",
    "AbstractAttention",
    "Attention",
    "GroupedQueryAttention",
    "LayerNorm",
    "LayerNormPre",
    "LocallyOverridenDefaults",
    "Output",
    "RMSNorm",
    "RMSNormPre",
    "Slice",
    "TransformerBlock",
    "TransformerLensKeyValueCache",
    "TransformerLensKeyValueCacheEntry",
    "TypedModuleList",
    "apply_qk_norm",
    "apply_softcap",
    "attention_direction",
    "complex_attn_linear",
    "get_device_for_block_index",
    "hook_is_attached",
    "kv_param_prefix",
    "kv_weights",
    "simple_attn_linear",
    "softcap_enabled",
    "value_bias",
]

QKV_OVERRIDE = "calculate_qkv_matrices"
"""The attention method LIMe overrides to return routed K/V."""
QKV_ARGS = ("query_input", "key_input", "value_input")
"""Its parameters after ``self``, in order."""
BLOCK_ATTRIBUTES = (
    "ln1",
    "ln2",
    "attn",
    "apply_mlp",
    "hook_resid_pre",
    "hook_attn_out",
    "hook_resid_mid",
    "hook_mlp_in",
    "hook_resid_post",
)
"""``TransformerBlock`` members the LIMe block's forward uses (ln2 / hook_resid_mid: not attn_only)."""
MODEL_MEMBERS = (
    "blocks",
    "input_to_embed",
    "ln_final",
    "unembed",
    "loss_fn",
    "init_weights",
    "setup",
    "move_model_modules_to_device",
    "fill_missing_keys",
    "load_and_process_state_dict",
    "process_weights_",
)
"""``HookedTransformer`` members the LIMe model calls or overrides."""
CHECK_HOOKS_TO_ADD_ARGS = (
    "hook_point",
    "hook_point_name",
    "hook",
    "dir",
    "is_permanent",
    "prepend",
)
"""``HookedTransformer.check_hooks_to_add`` parameters after ``self``, in order."""
GET_CACHING_HOOKS_ARGS = (
    "names_filter",
    "incl_bwd",
    "device",
    "remove_batch_dim",
    "cache",
    "pos_slice",
)
"""``HookedRootModule.get_caching_hooks`` parameters after ``self``, in order."""
MODEL_SWITCHES = (
    "use_attn_result",
    "use_split_qkv_input",
    "use_hook_mlp_in",
    "use_attn_in",
    "ungroup_grouped_query_attention",
)
"""Config fields that ``HookedTransformer`` toggles after construction, by ``set_{field}(value)``."""

ATTENTION_FORWARD_ARGS = (
    "query_input",
    "key_input",
    "value_input",
    "past_kv_cache_entry",
    "additive_attention_mask",
    "attention_mask",
    "position_bias",
)
"""``AbstractAttention.forward`` parameters after ``self``, in order."""
EXPLICIT_ONLY_ARCHITECTURES = ("OlmoeForCausalLM", "Olmo2ForCausalLM", "Olmo3ForCausalLM")
"""Architectures whose QK-norm the stock attention forward applies inline (not in
``calculate_qkv_matrices``), so a replacement forward would skip it."""
LINEAR_WEIGHTS: dict[type[torch.nn.Module], tuple[str, ...]] = {
    GatedMLP: ("W_gate", "W_in", "W_out"),
    Unembed: ("W_U",),
}
"""Module class (exact) -> the [in, out] weights its forward passes to ``F.linear`` as
``W.T.contiguous()``: a full copy of each weight on every call."""


def attention_direction(attn: AbstractAttention) -> str:
    """ "causal" or "bidirectional": the direction the stock forward masks with."""
    return attn._attention_dir_override or attn.cfg.attention_dir


def hook_is_attached(hook_point: torch.nn.Module) -> bool:
    """Whether anything runs at ``hook_point``: a TransformerLens hook (forward or backward), a raw
    PyTorch hook, or a replacement module (e.g. SAELens' ``_SAEWrapper`` spliced in by add_sae)."""
    if not isinstance(hook_point, HookPoint):
        return True
    return bool(
        hook_point._forward_hooks
        or hook_point._forward_pre_hooks
        or hook_point._backward_hooks
        or hook_point._backward_pre_hooks
    )


def kv_weights(attn: Attention | GroupedQueryAttention) -> tuple[torch.Tensor, ...]:
    """``(W_K, b_K, W_V, b_V)`` at n_kv heads: GQA's private unexpanded parameters, else the public ones."""
    if isinstance(attn, GroupedQueryAttention):  # routing is per KV head: never expand
        return attn._W_K, attn._b_K, attn._W_V, attn._b_V
    return attn.W_K, attn.b_K, attn.W_V, attn.b_V


def value_bias(attn: Attention | GroupedQueryAttention) -> torch.nn.Parameter:
    """The b_V parameter itself, [n_kv, d_head] (GQA keeps n_kv biases under ``_b_V``)."""
    return attn._b_V if isinstance(attn, GroupedQueryAttention) else attn.b_V


def kv_param_prefix(n_key_value_heads: int | None) -> str:
    """State-dict prefix of the K/V parameters under ``blocks.{l}.``: ``"attn._"`` under GQA."""
    return "attn._" if n_key_value_heads is not None else "attn."


def apply_qk_norm(
    attn: Attention | GroupedQueryAttention, q: torch.Tensor, k: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The stock per-head QK norm (``cfg.use_qk_norm``), as ``calculate_qkv_matrices`` applies it."""
    assert attn.q_norm is not None and attn.k_norm is not None  # set when cfg.use_qk_norm
    return attn._apply_qk_norm(q, attn.q_norm), attn._apply_qk_norm(k, attn.k_norm)

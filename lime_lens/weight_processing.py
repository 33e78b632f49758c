"""TransformerLens weight processing, made exact for LIMe or refused.

Each router declares what each step needs (``LIMeRouter.ln_fold``, ``value_bias_fold``,
``refactor_exact``, ``refusal``); the model asks it. The reasons, per mechanism:
- fold_ln: kv routers (v2 §4) read K/V from each layer's own ln1, exactly like vanilla, and mixing
  is linear, so the stock fold is exact. Residual routers (v1 §3) feed K/V through the per-layer
  LIMe norm instead of ln1, so the stock fold (ln1 into W_K/W_V) changes the model (by up to 0.5
  log-prob on the tests' tiny models). :func:`fold_lime_norms` first folds ln1 into W_Q only and the
  LIMe norm into W_K/W_V (and into router parameters that read the normed input, such as the
  dynamic map), which is exact because the mixture weights sum to 1; the stock fold then sees
  identity ln1 weights at those layers. LayerNorm + dynamic lookup is refused: the router map has
  no bias to take the LIMe norm's bias.
- center_writing_weights: every reader of the residual stream (ln1, ln2, ln_final and the LIMe
  norm) is a centring LayerNorm whenever TransformerLens applies it: exact.
- fold_value_biases: a kv router's layer-l V is a mixture of earlier layers' raw V, so it carries
  the routed bias sum_{l',h'} R^l[h, l', h'] b_V^{l'}_{h'}; folding each layer's own b_V (stock)
  is wrong. :func:`fold_routed_value_biases` folds the routed bias instead. Residual: stock is exact.
- refactor_factored_attn_matrices: a kv router re-uses W_K/W_V of layer l in later layers, against
  other layers' queries and W_O, so a per-layer refactor changes the model: refused.
"""

from __future__ import annotations

from typing import cast

import torch
from transformer_lens import HookedTransformer

from lime_lens.config import LIMeConfig
from lime_lens.routers.base import LIMeRouter, ProcessingStep
from lime_lens.tl.internals import LayerNormPre, RMSNormPre, kv_param_prefix, value_bias


def check_processing_supported(
    router: type[LIMeRouter], cfg: LIMeConfig, fold_ln: bool, refactor_factored_attn_matrices: bool
) -> None:
    """Raise a ValueError for a processing step that would silently change a LIMe model.

    ``router`` is the model's ``LIMeRouter`` subclass (``lime_lens.router_registry.router_class``).
    """
    steps: dict[ProcessingStep, bool] = {
        "fold_ln": fold_ln,
        "refactor_factored_attn_matrices": refactor_factored_attn_matrices,
    }
    for step, requested in steps.items():
        reason = router.refusal(cfg, step) if requested else None
        if reason is not None:
            raise ValueError(reason)


def _fold_into(
    state: dict[str, torch.Tensor], weight_keys: list[str], bias_keys: list[str], norm: str
) -> None:
    """Fold norm ``{norm}.w`` (and ``{norm}.b``) into the readers' weights/biases, then reset the norm."""
    gain, shift = state[f"{norm}.w"], state.get(f"{norm}.b")
    for w_key, b_key in zip(weight_keys, bias_keys, strict=True):
        W = state[w_key]
        if shift is not None:  # (n g + b) W = n (g W) + b W
            state[b_key] = state[b_key] + torch.einsum("m,hmd->hd", shift, W)
        state[w_key] = W * gain[:, None]
    state[f"{norm}.w"] = torch.ones_like(gain)
    if shift is not None:
        state[f"{norm}.b"] = torch.zeros_like(shift)


def fold_lime_norms(
    state_dict: dict[str, torch.Tensor], cfg: LIMeConfig, router: type[LIMeRouter]
) -> dict[str, torch.Tensor]:
    """Residual routers, layers l >= 1: ln1 into W_Q only, the LIMe norm into W_K/W_V (v1 §3).

    Exact because K_h = (sum_j w_hj (n_j g + b)) W_K = (sum_j w_hj n_j)(g W_K) + b W_K when the
    weights sum to 1 (softmax, renormalised top-p). ``router.fold_norm_gain`` folds the gain into
    router parameters that read the normed input. Returns a new dict; the input is not modified.
    """
    state = dict(state_dict)
    kv = kv_param_prefix(cfg.n_key_value_heads)
    for layer in range(1, cfg.n_layers):
        b = f"blocks.{layer}."
        _fold_into(state, [b + "attn.W_Q"], [b + "attn.b_Q"], b + "ln1")
        _fold_into(
            state, [b + kv + "W_K", b + kv + "W_V"], [b + kv + "b_K", b + kv + "b_V"], b + "lime.ln"
        )
        router.fold_norm_gain(state, b + "lime.", state_dict[b + "lime.ln.w"])
    return state


def use_pre_lime_norms(model: HookedTransformer) -> None:
    """After :func:`fold_lime_norms`: the LIMe norms become weightless, like the folded ln1/ln2."""
    pre = RMSNormPre if model.cfg.normalization_type == "RMSPre" else LayerNormPre
    for block in model.blocks[1:]:
        cast(LIMeRouter, block.lime).ln = pre(model.cfg)


@torch.no_grad()
def fold_routed_value_biases(model: HookedTransformer) -> None:
    """kv routers: b_O^l += sum_q (routed b_V)_{kv(q)} W_O^l_q, then every b_V = 0 (in place).

    Exact because attention patterns sum to 1, so a constant added to every routed value adds
    its W_O image to the output, whatever the pattern.
    """
    biases = [
        value_bias(block.attn).detach().clone() for block in model.blocks
    ]  # each [n_kv, d_head]
    for layer, block in enumerate(model.blocks):
        routed = biases[0]
        if block.lime is not None:
            routed = cast(LIMeRouter, block.lime).route_constants(biases[: layer + 1])
        per_query_head = routed.repeat_interleave(model.cfg.n_heads // routed.shape[0], dim=0)
        block.attn.b_O.add_(torch.einsum("hd,hdm->m", per_query_head, block.attn.W_O))
    for block in model.blocks:
        value_bias(block.attn).zero_()

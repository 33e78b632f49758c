"""TransformerLens weight processing, made exact for LIMe or refused (issue 5, item 6).

- fold_ln: kv mode reads K/V from each layer's own ln1, exactly like vanilla, and mixing is linear,
  so the stock fold is exact. Residual mode feeds K/V through the per-layer LIMe norm instead of
  ln1, so the stock fold (ln1 into W_K/W_V) is wrong (up to 0.5 log-prob, tlens notes §4).
  :func:`fold_lime_norms` first folds ln1 into W_Q only and the LIMe norm into W_K/W_V (and the
  dynamic router's map), which is exact because the mixture weights sum to 1; the stock fold then
  sees identity ln1 weights at those layers. LayerNorm + dynamic lookup is refused: the router map
  has no bias to take the LIMe norm's bias.
- center_writing_weights: every reader of the residual stream (ln1, ln2, ln_final and, in residual
  mode, the LIMe norm) is a centring LayerNorm whenever TransformerLens applies it: exact.
- fold_value_biases: in kv mode layer l's V is a mixture of earlier layers' raw V, so it carries the
  routed bias sum_{l',h'} R^l[h, l', h'] b_V^{l'}_{h'}; folding each layer's own b_V (stock) is wrong.
  :func:`fold_routed_value_biases` folds the routed bias instead. Residual mode: stock is exact.
- refactor_factored_attn_matrices: kv mode re-uses W_K/W_V of layer l in later layers, against
  other layers' queries and W_O, so a per-layer refactor changes the model: refused.
"""

from __future__ import annotations

import torch
from transformer_lens import HookedTransformer

from lime_lens.config import LIMeConfig


def check_processing_supported(
    cfg: LIMeConfig, fold_ln: bool, refactor_factored_attn_matrices: bool
) -> None:
    """Raise a ValueError for a processing step that would silently change a LIMe model."""
    if fold_ln and cfg.lime_mode == "residual" and cfg.normalization_type == "LN" and cfg.lime_lookup == "dynamic":
        raise ValueError(
            "fold_ln=True is not supported for lime_mode='residual' with lime_lookup='dynamic' and "
            "LayerNorm: the LIMe norm's bias feeds the bias-free router map "
            "(blocks.{l}.lime.route_proj). Pass fold_ln=False."
        )
    if refactor_factored_attn_matrices and cfg.lime_mode == "kv":
        raise ValueError(
            "refactor_factored_attn_matrices=True is not supported for lime_mode='kv': later "
            "layers route this layer's K/V against their own queries and W_O."
        )


def _fold_into(state: dict[str, torch.Tensor], weight_keys: list[str], bias_keys: list[str], norm: str) -> None:
    """Fold norm ``{norm}.w`` (and ``{norm}.b``) into the readers' weights/biases, then reset the norm."""
    gain, shift = state[f"{norm}.w"], state.get(f"{norm}.b")
    for w_key, b_key in zip(weight_keys, bias_keys):
        W = state[w_key]
        if shift is not None:  # (n g + b) W = n (g W) + b W
            state[b_key] = state[b_key] + torch.einsum("m,hmd->hd", shift, W)
        state[w_key] = W * gain[:, None]
    state[f"{norm}.w"] = torch.ones_like(gain)
    if shift is not None:
        state[f"{norm}.b"] = torch.zeros_like(shift)


def fold_lime_norms(state_dict: dict[str, torch.Tensor], cfg: LIMeConfig) -> dict[str, torch.Tensor]:
    """Residual mode, layers l >= 1: ln1 into W_Q only, the LIMe norm into W_K/W_V (v1 §3).

    Exact because K_h = (sum_j w_hj (n_j g + b)) W_K = (sum_j w_hj n_j)(g W_K) + b W_K when the
    weights sum to 1 (softmax, renormalised top-p). Returns a new dict; the input is not modified.
    """
    state = dict(state_dict)
    kv = "attn._" if cfg.n_key_value_heads is not None else "attn."
    for layer in range(1, cfg.n_layers):
        b = f"blocks.{layer}."
        _fold_into(state, [b + "attn.W_Q"], [b + "attn.b_Q"], b + "ln1")
        _fold_into(state, [b + kv + "W_K", b + kv + "W_V"], [b + kv + "b_K", b + kv + "b_V"], b + "lime.ln")
        if b + "lime.route_proj.weight" in state:  # RMS only (checked): a gain, no bias
            proj = state[b + "lime.route_proj.weight"]
            state[b + "lime.route_proj.weight"] = proj * state_dict[b + "lime.ln.w"][None, :]
    return state


def _b_V(attn: torch.nn.Module) -> torch.nn.Parameter:
    return attn._b_V if hasattr(attn, "_b_V") else attn.b_V  # GQA keeps n_kv biases


@torch.no_grad()
def fold_routed_value_biases(model: HookedTransformer) -> None:
    """kv mode: b_O^l += sum_q (routed b_V)_{kv(q)} W_O^l_q, then every b_V = 0 (in place).

    Exact because attention patterns sum to 1, so a constant added to every routed value adds
    its W_O image to the output, whatever the pattern.
    """
    biases = [_b_V(block.attn).detach().clone() for block in model.blocks]  # each [n_kv, d_head]
    for layer, block in enumerate(model.blocks):
        routed = biases[0]
        if block.lime is not None:
            routed = torch.einsum("hsg,sgd->hd", block.lime.route, torch.stack(biases[: layer + 1]))
        per_query_head = routed.repeat_interleave(model.cfg.n_heads // routed.shape[0], dim=0)
        block.attn.b_O += torch.einsum("hd,hdm->m", per_query_head, block.attn.W_O)
    for block in model.blocks:
        _b_V(block.attn).zero_()

"""Which activations the analyses read: value states (pre/post routing) and residual states.

The LIMe paper's text and its code disagree on what "values" are: the text (v2 §5.2) says "output
of W_V" (pre-routing), the entropy code captures the attention's *post-routing* values.
Both are offered here, under names that say which is which:

- ``"values_pre"``: the layer's own W_V output on its own input, before any cross-layer routing.
  Routers with ``raw_kv_hooks`` (kv, v2): ``blocks.{l}.attn.hook_v_raw``. Otherwise (residual, v1):
  ``ln1(resid_pre_l) W_V + b_V``, computed from ``blocks.{l}.hook_resid_pre`` (no routing has
  happened there).
  A vanilla HookedTransformer has no routing, so its pre- and post-routing values are both
  ``blocks.{l}.attn.hook_v``.
- ``"values_post"``: the values attention actually uses, ``blocks.{l}.attn.hook_v`` (mixed K/V in
  kv mode, projected from the per-head mixture in residual mode). This is what the paper's code used.
- ``"resid"``: the residual stream after each block, ``blocks.{l}.hook_resid_post``; the last
  layer's is taken before the final norm, as in the paper's code.

Value states are returned with heads concatenated, ``[batch, pos, n_kv * d_head]`` (paper §5.2).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import torch
from jaxtyping import Float, Int
from transformer_lens import HookedTransformer

from lime_lens.router_registry import router_class
from lime_lens.routers import LIMeRouter
from lime_lens.tl.internals import kv_weights

StateKind = Literal["values_pre", "values_post", "resid"]
STATE_KINDS: tuple[str, ...] = ("values_pre", "values_post", "resid")


def lime_router(model: HookedTransformer) -> type[LIMeRouter] | None:
    """The router class of a LIMe model, ``None`` for a vanilla HookedTransformer."""
    return router_class(model.cfg) if hasattr(model.cfg, "lime_mode") else None


def _check_kind(kind: str) -> None:
    if kind not in STATE_KINDS:
        raise ValueError(f"states: unknown kind {kind!r}; expected one of {STATE_KINDS}")


def hook_names_for(model: HookedTransformer, kind: StateKind, layer: int) -> list[str]:
    """The hook points whose cached values define state ``kind`` at ``layer``."""
    _check_kind(kind)
    if kind == "resid":
        return [f"blocks.{layer}.hook_resid_post"]
    router = lime_router(model)
    if kind == "values_post" or router is None:
        return [f"blocks.{layer}.attn.hook_v"]
    if router.raw_kv_hooks:
        return [f"blocks.{layer}.attn.hook_v_raw"]
    return [f"blocks.{layer}.hook_resid_pre"]  # residual mode: ln1 and W_V applied below


def _own_values(model: HookedTransformer, layer: int, resid_pre: torch.Tensor) -> torch.Tensor:
    """``ln1(resid_pre) W_V + b_V`` per KV head: the values a vanilla layer would compute."""
    normalized = model.blocks[layer].ln1(resid_pre)
    _, _, W_V, b_V = kv_weights(model.blocks[layer].attn)  # LIMe refuses ungrouped GQA
    return torch.einsum("bpd,hde->bphe", normalized, W_V) + b_V


def _state_from_cache(model: HookedTransformer, cache, kind: StateKind, layer: int) -> torch.Tensor:
    (name,) = hook_names_for(model, kind, layer)
    act = cache[name]
    if kind == "values_pre" and name.endswith("hook_resid_pre"):  # no raw-V hook: recompute W_V
        act = _own_values(model, layer, act)
    return act.flatten(2) if act.ndim == 4 else act  # heads concatenated: [batch, pos, n_kv*d_head]


@torch.no_grad()
def iter_states(
    model: HookedTransformer,
    tokens: Int[torch.Tensor, "n_seq pos"],
    kind: StateKind,
    layers: list[int] | None = None,
    batch_size: int = 8,
) -> Iterator[dict[int, Float[torch.Tensor, "batch pos d"]]]:
    """Yield, per batch of sequences, ``{layer: state}`` for state ``kind`` (see module doc).

    Only the needed hooks are cached, and the forward stops after the last requested layer.
    """
    _check_kind(kind)
    layers = list(range(model.cfg.n_layers)) if layers is None else layers
    names = [n for layer in layers for n in hook_names_for(model, kind, layer)]
    for start in range(0, tokens.shape[0], batch_size):
        batch = tokens[start : start + batch_size].to(model.cfg.device)
        _, cache = model.run_with_cache(
            batch, names_filter=names, stop_at_layer=max(layers) + 1, return_type=None
        )
        yield {layer: _state_from_cache(model, cache, kind, layer) for layer in layers}


def collect_states(
    model: HookedTransformer,
    tokens: Int[torch.Tensor, "n_seq pos"],
    kind: StateKind,
    layers: list[int] | None = None,
    batch_size: int = 8,
) -> dict[int, Float[torch.Tensor, "n_seq pos d"]]:
    """All of :func:`iter_states` concatenated over the corpus (on CPU)."""
    chunks: dict[int, list[torch.Tensor]] = {}
    for states in iter_states(model, tokens, kind, layers, batch_size):
        for layer, act in states.items():
            chunks.setdefault(layer, []).append(act.cpu())
    return {layer: torch.cat(acts) for layer, acts in chunks.items()}

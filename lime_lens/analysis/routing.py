"""Routing heatmaps: how much each layer reads from each earlier layer (paper v2 §5.4, v1 §5).

Definitions. For a LIMe layer l >= 1 read the routing weights at ``blocks.{l}.lime.hook_route``:

- kv mode (v2): R^l[h, l', h'] (static, unconstrained, may be negative): use |R^l| and average
  over the source KV heads h', giving A^l[h, l'].
- residual mode (v1), static / top-p lookups: softmax weights w^l[h, j] over the sources
  S_j = resid_pre_j (S_0 = embeddings, S_l = the layer's own input): A^l[h, j] = w^l[h, j].
- residual mode, dynamic lookup: weights are per token; A^l[h, j] = mean of w^l[., ., h, j] over
  every (sequence, position) of a corpus: the router's "prior" (v1 analysis).

Per-head heatmap (paper Fig. 9):   H[l, h, j] = A^l[h, j] / sum_{j'} A^l[h, j'].
Per-layer heatmap (paper Fig. 5):  M[l, j]    = mean_h A^l[h, j] / sum_{j'} mean_h A^l[h, j'].
Rows sum to 1 over j <= l; j > l is NaN (no such source). Layer 0 has no router: it reads only
itself, so its row is one-hot on j = 0. Source j means layer j's raw K/V in kv mode and
resid_pre_j in residual mode.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from jaxtyping import Float, Int
from transformer_lens import HookedTransformer

from lime_lens.analysis.states import lime_router
from lime_lens.routers import LIMeRouter


class RoutingHeatmaps(NamedTuple):
    per_layer: Float[torch.Tensor, "n_layers n_src"]
    """M[l, j]: share of layer l's routing mass (|R| averaged over heads) on source j; NaN for j > l."""
    per_head: Float[torch.Tensor, "n_layers n_kv n_src"]
    """H[l, h, j]: the same per target KV head h; NaN for j > l."""


def route_hook_name(layer: int) -> str:
    return f"blocks.{layer}.lime.hook_route"


def is_dynamic(model: HookedTransformer) -> bool:
    """True for a per-token (dynamic) router, whose weights depend on the input."""
    router = lime_router(model)
    return router is not None and router.per_token


def require_lime(model: HookedTransformer) -> type[LIMeRouter]:
    """The model's router class; a ValueError for a vanilla model."""
    router = lime_router(model)
    if router is None:
        raise ValueError("routing analysis needs a LIMe model (cfg.lime_mode is missing)")
    return router


@torch.no_grad()
def mean_abs_routes(
    model: HookedTransformer,
    tokens: Int[torch.Tensor, "n_seq pos"] | None = None,
    batch_size: int = 8,
    per_source_head: bool = False,
) -> dict[int, Float[torch.Tensor, "n_kv n_src *n_kv_src"]]:
    """A^l[h, j] for every LIMe layer l >= 1 (see module doc), read from the route hooks.

    Static routers do not depend on the input, so ``tokens`` may be None for them; the dynamic
    router's prior is averaged over every position of ``tokens``. ``per_source_head`` (kv mode)
    keeps the source-head axis: |R^l[h, l', h']| of shape [n_kv, n_src, n_kv].
    """
    router = require_lime(model)
    if tokens is None:
        if router.per_token:
            raise ValueError("tokens: the dynamic router's mean weights need a corpus")
        tokens = torch.zeros(1, 1, dtype=torch.long)
    layers = range(1, model.cfg.n_layers)
    sums: dict[int, torch.Tensor] = {}
    count = 0
    for start in range(0, tokens.shape[0], batch_size):
        batch = tokens[start : start + batch_size].to(model.cfg.device)
        _, cache = model.run_with_cache(
            batch, names_filter=[route_hook_name(layer) for layer in layers], return_type=None
        )
        for layer in layers:
            w = cache[route_hook_name(layer)].abs().double()
            if "n_kv_src" in router.route_dims and not per_source_head:
                w = w.mean(-1)  # [batch, n_kv, n_src]: average over source heads h'
            # sum over batch (and positions, dynamic); all tokens weigh equally
            lead = 2 if router.per_token else 1  # (batch, pos) or (batch,)
            sums[layer] = sums.get(layer, 0) + w.flatten(0, lead - 1).sum(0)
        count += batch.numel() if router.per_token else batch.shape[0]
    return {layer: (s / count).float().cpu() for layer, s in sums.items()}


def routing_heatmaps(
    routes: dict[int, Float[torch.Tensor, "n_kv n_src"]], n_layers: int
) -> RoutingHeatmaps:
    """Normalised per-layer and per-head heatmaps from :func:`mean_abs_routes` (module doc)."""
    n_kv = next(iter(routes.values())).shape[0] if routes else 1
    per_head = torch.full((n_layers, n_kv, n_layers), float("nan"))
    per_layer = torch.full((n_layers, n_layers), float("nan"))
    per_head[0, :, 0], per_layer[0, 0] = 1.0, 1.0  # layer 0 reads only itself
    for layer, a in routes.items():
        per_head[layer, :, : layer + 1] = a / a.sum(-1, keepdim=True)
        mean = a.mean(0)
        per_layer[layer, : layer + 1] = mean / mean.sum()
    return RoutingHeatmaps(per_layer, per_head)


def routing_heatmaps_for(
    model: HookedTransformer,
    tokens: Int[torch.Tensor, "n_seq pos"] | None = None,
    batch_size: int = 8,
) -> RoutingHeatmaps:
    """:func:`routing_heatmaps` of :func:`mean_abs_routes` for ``model`` (any routing mode)."""
    return routing_heatmaps(mean_abs_routes(model, tokens, batch_size), model.cfg.n_layers)

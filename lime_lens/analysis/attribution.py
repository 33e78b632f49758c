"""Route attribution: ablate single routes, and split a head's K/V input into per-source parts.

Both read or patch ``blocks.{l}.lime.hook_route`` only, so they hold for any routing mode and see
the model exactly as it runs (patches at earlier hooks reach them).

*Route.* kv mode (v2): (layer l, target KV head h, source layer l'[, source KV head h']), weight
R^l[h, l', h']. residual mode (v1): (layer l, head h, source j), weight w^l[h, j] (per token for
the dynamic lookup).

*Ablation effect* of a route = mean next-token loss over the corpus with that routing weight set
to 0 at every position, minus the clean loss. Nothing is renormalised: for softmax lookups the
remaining weights keep their values, the same as zeroing the entry of R in kv mode.

*Decomposition* (exact, because routing is linear in the sources, paper §4 / v1 eq. for m_h):
kv:        k_mixed[h] = sum_{l', h'} R^l[h, l', h'] * k_raw_{l'}[h']    (same for v; pre-rotary)
residual:  kv_in[h]   = sum_j w^l[h, j] * ln(S_j),  S_j = resid_pre_j   (K and V share it)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple, cast, get_args

import pandas as pd
import torch
from jaxtyping import Float, Int
from transformer_lens import HookedTransformer

from lime_lens.analysis.routing import mean_abs_routes, require_lime, route_hook_name
from lime_lens.routers.residual import ResidualRouter

Granularity = Literal["source_layer", "source_head"]


def zero_route_hook(
    model: HookedTransformer, head: int, source: int, source_head: int | None = None
) -> Callable[[torch.Tensor, object], torch.Tensor]:
    """A hook for ``blocks.{l}.lime.hook_route`` that zeroes route (head, source[, source_head]).

    ``source_head`` (kv mode only) selects one source KV head; None zeroes all of them.
    The route's axes are the router's ``route_dims``, e.g. kv [batch, n_kv, n_src, n_kv_src],
    static [batch, n_kv, n_src], dynamic [batch, pos, n_kv, n_src].
    """
    dims = require_lime(model).route_dims
    if source_head is not None and "n_kv_src" not in dims:
        raise ValueError("source_head applies to lime_mode='kv' only")
    index: list[int | slice] = [slice(None)] * len(dims)
    index[dims.index("n_kv")], index[dims.index("n_src")] = head, source
    if "n_kv_src" in dims:
        index[dims.index("n_kv_src")] = slice(None) if source_head is None else source_head

    def hook(route: torch.Tensor, hook=None) -> torch.Tensor:
        route = route.clone()  # the unpatched route is a stride-0 view of the parameter
        route[tuple(index)] = 0
        return route

    return hook


@torch.no_grad()
def corpus_loss(
    model: HookedTransformer,
    tokens: Int[torch.Tensor, "n_seq pos"],
    fwd_hooks: Sequence[tuple[str, Callable]] = (),
    batch_size: int = 8,
) -> float:
    """Mean next-token cross-entropy over every predicted position of ``tokens``, under hooks."""
    total, count = 0.0, 0
    for start in range(0, tokens.shape[0], batch_size):
        batch = tokens[start : start + batch_size].to(model.cfg.device)
        loss = model.run_with_hooks(
            batch, return_type="loss", loss_per_token=True, fwd_hooks=list(fwd_hooks)
        )
        total += loss.double().sum().item()
        count += loss.numel()
    return total / count


def _routes(model: HookedTransformer, granularity: Granularity, layers) -> list[tuple]:
    n_kv = model.cfg.n_key_value_heads or model.cfg.n_heads
    per_head = granularity == "source_head" and "n_kv_src" in require_lime(model).route_dims
    return [
        (layer, head, source, source_head)
        for layer in layers
        for head in range(n_kv)
        for source in range(layer + 1)
        for source_head in (range(n_kv) if per_head else [None])
    ]


@torch.no_grad()
def route_ablation_table(
    model: HookedTransformer,
    tokens: Int[torch.Tensor, "n_seq pos"],
    granularity: Granularity = "source_layer",
    layers: list[int] | None = None,
    batch_size: int = 8,
) -> pd.DataFrame:
    """Every route's ablation effect on the corpus loss, ranked (largest loss increase first).

    ``granularity="source_head"`` ablates single entries R^l[h, l', h'] (kv mode); the default
    ablates a whole source layer for one target head. Columns: ``layer, head, source,
    source_head, weight, clean_loss, ablated_loss, delta_loss``; ``weight`` is the route's mean
    |routing weight| (averaged over source heads for a whole source layer, and over the corpus
    for the dynamic router). Costs one corpus pass per route.
    """
    require_lime(model)
    if granularity not in get_args(Granularity):
        raise ValueError(f"granularity must be one of {get_args(Granularity)}, got {granularity!r}")
    clean = corpus_loss(model, tokens, batch_size=batch_size)
    weights = mean_abs_routes(model, tokens, batch_size, per_source_head=True)
    rows = []
    for layer, head, source, source_head in _routes(
        model, granularity, layers or range(1, model.cfg.n_layers)
    ):
        hook = zero_route_hook(model, head, source, source_head)
        ablated = corpus_loss(model, tokens, [(route_hook_name(layer), hook)], batch_size)
        weight = weights[layer][head, source]
        weight = weight.mean() if source_head is None else weight[source_head]
        rows.append(
            {
                "layer": layer,
                "head": head,
                "source": source,
                "source_head": source_head,
                "weight": weight.item(),
                "clean_loss": clean,
                "ablated_loss": ablated,
                "delta_loss": ablated - clean,
            }
        )
    table = pd.DataFrame(rows).sort_values("delta_loss", ascending=False, kind="stable")
    return table.reset_index(drop=True)


class KVDecomposition(NamedTuple):
    contributions: Float[torch.Tensor, "batch pos n_src ..."]
    """kv: [batch, pos, n_src, n_kv_src, d_head] per (source layer, source head);
    residual: [batch, pos, n_src, d_model] per source residual state."""
    total: Float[torch.Tensor, "batch pos d"]
    """The hooked input it decomposes: ``attn.hook_k``/``hook_v`` (kv) or ``lime.hook_kv_in``
    (residual) of the chosen head. ``contributions`` summed over sources equals it."""


@torch.no_grad()
def decompose_kv_input(
    model: HookedTransformer,
    tokens: Int[torch.Tensor, "batch pos"],
    layer: int,
    head: int,
    which: Literal["k", "v"] = "k",
) -> KVDecomposition:
    """Split KV head ``head``'s K/V input at ``layer`` into per-source contributions (module doc)."""
    router = require_lime(model)
    if not 1 <= layer < model.cfg.n_layers:
        raise ValueError(f"layer must be in [1, {model.cfg.n_layers - 1}] (layer 0 has no router)")
    kv = router.source == "kv"
    if kv:
        srcs = [f"blocks.{j}.attn.hook_{which}_raw" for j in range(layer + 1)]
        total_name = f"blocks.{layer}.attn.hook_{which}"
    else:
        srcs = [f"blocks.{j}.hook_resid_pre" for j in range(layer + 1)]
        total_name = f"blocks.{layer}.lime.hook_kv_in"
    _, cache = model.run_with_cache(
        tokens,
        names_filter=[*srcs, route_hook_name(layer), total_name],
        stop_at_layer=layer + 1,
        return_type=None,
    )
    route = cache[route_hook_name(layer)]
    if kv:  # R[b, h, l', h'] * raw[b, p, l', h', d]
        raws = torch.stack([cache[n] for n in srcs], dim=2)
        parts = route[:, head, None, :, :, None] * raws
    else:  # w[b, (p,) h, j] * ln(S_j)[b, p, j, d]
        mixer = cast(ResidualRouter, model.blocks[layer].lime)  # residual mode: kv is False
        normed = mixer.ln(torch.stack([cache[n] for n in srcs], dim=2))
        w = route[..., head, :]
        parts = (w if w.ndim == 3 else w[:, None]).unsqueeze(-1) * normed
    return KVDecomposition(parts, cache[total_name][:, :, head])

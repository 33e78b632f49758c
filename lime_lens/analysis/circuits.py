"""Depthwise circuits of the dynamic router: which vocabulary tokens open which route (v1 Table 2).

The dynamic router of layer l (residual mode, ``lime_lookup="dynamic"``) computes, per token,
logits = route_proj(ln(x)) reshaped to [n_kv, n_src], where x is the layer's own input
(resid_pre_l) and ``ln`` is the LIMe norm ``blocks.{l}.lime.ln``; softmax over sources gives the
route weights. A *route* is (layer l, target head h, source j).

Definition (paper code ``dynamic_router_interpret.py``): feed every vocabulary vector v_t through
that norm and map, logits_t = route_proj(ln(v_t))[h, j], and report for each route the k tokens
with the largest logit. The paper's v_t is the (tied) embedding divided element-wise by the final
norm's weight, i.e. the pre-final-norm residual direction that the final norm maps onto the
unembedding of t: a residual state that "says t" under the logit lens. For untied models we keep
that meaning and use the unembedding column W_U[:, t] / w_final (``"unembed_over_final_norm"``,
the default; identical to the paper's vector when embeddings are tied). ``"embed_over_final_norm"``
is the paper's literal recipe, ``"embed"`` the raw input embedding.
"""

from __future__ import annotations

from typing import Literal, cast, get_args

import pandas as pd
import torch
from jaxtyping import Float
from transformer_lens import HookedTransformer

from lime_lens.analysis.routing import is_dynamic
from lime_lens.routers.residual_dynamic import ResidualDynamicRouter

VocabVectors = Literal["unembed_over_final_norm", "embed_over_final_norm", "embed"]


def vocab_vectors(
    model: HookedTransformer, kind: VocabVectors = "unembed_over_final_norm"
) -> Float[torch.Tensor, "d_vocab d_model"]:
    """One residual-space vector per vocabulary token (module doc)."""
    if kind not in get_args(VocabVectors):
        raise ValueError(f"kind must be one of {get_args(VocabVectors)}, got {kind!r}")
    if kind == "embed":
        return model.W_E
    base = model.W_U.T if kind == "unembed_over_final_norm" else model.W_E
    w = getattr(model.ln_final, "w", None)
    return base if w is None else base / w  # LNPre/RMSPre/no final norm: nothing to divide


@torch.no_grad()
def router_logits(
    model: HookedTransformer, layer: int, vectors: Float[torch.Tensor, "n d_model"]
) -> Float[torch.Tensor, "n n_kv n_src"]:
    """Dynamic-router logits route_proj(ln(v)) of layer ``layer`` for residual vectors ``v``."""
    if not is_dynamic(model):
        raise ValueError("depthwise circuits need lime_mode='residual', lime_lookup='dynamic'")
    if not 1 <= layer < model.cfg.n_layers:
        raise ValueError(f"layer must be in [1, {model.cfg.n_layers - 1}] (layer 0 has no router)")
    lime = cast(ResidualDynamicRouter, model.blocks[layer].lime)  # is_dynamic, checked above
    return lime.route_proj(lime.ln(vectors)).view(len(vectors), -1, layer + 1)


def depthwise_circuits(
    model: HookedTransformer,
    k: int = 10,
    layers: list[int] | None = None,
    vectors: VocabVectors = "unembed_over_final_norm",
    prior: dict[int, torch.Tensor] | None = None,
) -> pd.DataFrame:
    """Top-``k`` tokens per route (layer, head, source) by router logit (module doc).

    One row per route: ``layer, head, source, tokens`` (list of ids), ``token_strs`` (if the
    model has a tokenizer), ``logits`` (their logits) and, if ``prior`` (from
    :func:`lime_lens.analysis.routing.mean_abs_routes` on a corpus) is given, ``prior`` = the
    route's mean weight, by which the paper buckets routes.
    """
    vecs = vocab_vectors(model, vectors)
    rows = []
    for layer in layers or range(1, model.cfg.n_layers):
        top = router_logits(model, layer, vecs).topk(k, dim=0)  # [k, n_kv, n_src]
        for head in range(top.indices.shape[1]):
            for source in range(layer + 1):
                ids = top.indices[:, head, source].tolist()
                row = {
                    "layer": layer,
                    "head": head,
                    "source": source,
                    "tokens": ids,
                    "logits": top.values[:, head, source].tolist(),
                }
                if model.tokenizer is not None:
                    row["token_strs"] = [model.tokenizer.decode([t]) for t in ids]
                if prior is not None:
                    row["prior"] = prior[layer][head, source].item()
                rows.append(row)
    return pd.DataFrame(rows)

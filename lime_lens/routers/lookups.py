"""Paper v1 lookup mechanisms: mixture weights over the l+1 residual sources of one layer."""

from __future__ import annotations

import torch
from jaxtyping import Float


def softmax_weights(logits: Float[torch.Tensor, "... n_src"]) -> Float[torch.Tensor, "... n_src"]:
    """Static (per layer) or dynamic (per token) lookup: w = softmax(theta) over sources."""
    return logits.softmax(dim=-1)


def top_p_weights(
    logits: Float[torch.Tensor, "... n_src"], top_p: float
) -> Float[torch.Tensor, "... n_src"]:
    """v1 top-p lookup: keep the most likely sources until their mass reaches ``top_p``, renormalise.

    A source is kept when the mass of the sources ranked strictly above it is below ``top_p``,
    so the top source is always kept and ``top_p = 1`` keeps every source.
    """
    probs = logits.softmax(dim=-1)
    if top_p >= 1.0:
        return probs
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    keep_sorted = (sorted_probs.cumsum(dim=-1) - sorted_probs) < top_p
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    pruned = probs * keep
    return pruned / pruned.sum(dim=-1, keepdim=True)

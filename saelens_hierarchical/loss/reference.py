"""Reference HierarchicalTopK loss: the paper's formula, materialising every prefix.

Shapes: batch (B), k (K sorted latents per sample), d_in (D), d_sae (F).
Memory O(B*K*D): the definition the fast paths (``fused``, ``chunked``,
``triton``) are tested against.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from jaxtyping import Float, Int

from saelens_hierarchical.loss.common import check_prefix_weights


class PrefixLoss(NamedTuple):
    """What every loss path returns."""

    loss: Float[torch.Tensor, ""]
    """sum_j w_j * mean_batch ||x - x_hat_j||^2 (squared error summed over d_in)."""

    sae_out: Float[torch.Tensor, "batch d_in"]
    """x_hat_K = b_dec + sum_{i<=K} a_i d_i: the full top-K reconstruction."""


def hierarchical_loss_reference(
    sae_in: Float[torch.Tensor, "batch d_in"],
    b_dec: Float[torch.Tensor, " d_in"],
    acts: Float[torch.Tensor, "batch k"],
    indices: Int[torch.Tensor, "batch k"],
    W_dec: Float[torch.Tensor, "d_sae d_in"],
    weights: list[float],
) -> PrefixLoss:
    """Balagansky et al. (2025) eq. for L: x_hat_j = b_dec + sum_{i<=j} a_i d_i, i sorted by
    activation (descending), and L = sum_j weights[j] * mean_b ||x_b - x_hat_{b,j}||^2.

    ``acts`` are the decoder coefficients (already divided by ||d_i|| when SAELens rescales
    activations by decoder norm); ``weights`` has one entry per prefix j = 1..K.
    """
    check_prefix_weights(weights, acts.shape[1])
    prefixes = b_dec + torch.cumsum(acts[..., None] * W_dec[indices], dim=1)  # [batch, k, d_in]
    per_prefix = (sae_in[:, None, :] - prefixes).pow(2).sum(-1).mean(0)  # [k]
    loss = (per_prefix * per_prefix.new_tensor(weights)).sum()
    return PrefixLoss(loss, prefixes[:, -1])

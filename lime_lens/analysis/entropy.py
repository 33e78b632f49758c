"""Matrix-based Renyi entropy of value and residual states, per layer (LIMe paper §5.2).

Definition (Giraldo et al. 2014, as used by the paper's ``src/analysis/entropy.py``): for one
sequence take its states Z in R^{T x D}, standardised feature-wise by the dataset mean and std over
(sequences, tokens). With the Gram matrix K = Z Z^T (float64) and its eigenvalues lambda_i clamped
at 0, let p_i = lambda_i / tr(K). Then

    S_alpha(Z) = log(sum_i p_i^alpha) / (1 - alpha)          (alpha != 1)
    S_1(Z)     = -sum_i p_i log p_i                           (the alpha -> 1 limit)

S ranges from 0 (rank one: all tokens share one direction) to log T (isotropic). A layer's value is
the mean (and std) of S over sequences. The paper's code uses alpha = 0.5 and std + 1e-5.
Higher entropy = less representation collapse; the paper finds LIMe's *values* higher, residual
states unchanged. See :mod:`lime_lens.analysis.states` for which "values" are which.
"""

from __future__ import annotations

import pandas as pd
import torch
from jaxtyping import Float, Int
from transformer_lens import HookedTransformer

from lime_lens.analysis.states import StateKind, iter_states

STD_EPS = 1e-5  # the paper's code adds this to the std before dividing


def matrix_renyi_entropy(
    gram: Float[torch.Tensor, "*batch n n"], alpha: float = 0.5
) -> Float[torch.Tensor, "*batch"]:
    """S_alpha of PSD Gram matrices: log(sum p^alpha)/(1-alpha), p = clamp(eig)/trace (float64)."""
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    gram = gram.double()
    eig = torch.linalg.eigvalsh(gram).clamp(min=0)
    p = eig / gram.diagonal(dim1=-2, dim2=-1).sum(-1, keepdim=True)
    if alpha == 1:
        return -torch.special.xlogy(p, p).sum(-1)
    return torch.log((p**alpha).sum(-1)) / (1 - alpha)


def sequence_entropies(
    states: Float[torch.Tensor, "n_seq pos d"],
    mean: Float[torch.Tensor, " d"],
    std: Float[torch.Tensor, " d"],
    alpha: float = 0.5,
) -> Float[torch.Tensor, " n_seq"]:
    """S_alpha of each sequence's standardised states ``(states - mean) / (std + 1e-5)``."""
    z = (states.double() - mean.double()) / (std.double() + STD_EPS)
    return matrix_renyi_entropy(z @ z.transpose(-1, -2), alpha)


class _RunningMoments:
    """Per-feature mean and unbiased std over every (sequence, token), accumulated in float64."""

    def __init__(self) -> None:
        self.n = 0
        self.s1: torch.Tensor | float = 0.0  # a tensor after the first add
        self.s2: torch.Tensor | float = 0.0

    def add(self, x: torch.Tensor) -> None:
        x = x.double().flatten(0, -2)
        self.n += x.shape[0]
        self.s1 = self.s1 + x.sum(0)
        self.s2 = self.s2 + (x * x).sum(0)

    def mean_std(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(self.s1, torch.Tensor) or not isinstance(self.s2, torch.Tensor):
            raise ValueError("no states were added")
        mean = self.s1 / self.n
        var = (self.s2 - self.n * mean * mean) / (self.n - 1)
        return mean, var.clamp(min=0).sqrt()


@torch.no_grad()
def entropy_per_layer(
    model: HookedTransformer,
    tokens: Int[torch.Tensor, "n_seq pos"],
    states: StateKind = "values_post",
    alpha: float = 0.5,
    batch_size: int = 8,
) -> pd.DataFrame:
    """Matrix Renyi entropy of ``states`` per layer over a corpus of equal-length sequences.

    Two passes over ``tokens``: the first accumulates the dataset mean/std per feature (the
    paper standardises by statistics over all sequences and tokens), the second computes each
    sequence's entropy. Returns one row per layer: ``layer, entropy_mean, entropy_std, states,
    alpha, n_sequences``.
    """
    moments: dict[int, _RunningMoments] = {}
    for batch_states in iter_states(model, tokens, states, batch_size=batch_size):
        for layer, act in batch_states.items():
            moments.setdefault(layer, _RunningMoments()).add(act)
    stats = {layer: m.mean_std() for layer, m in moments.items()}
    per_seq: dict[int, list[torch.Tensor]] = {layer: [] for layer in stats}
    for batch_states in iter_states(model, tokens, states, batch_size=batch_size):
        for layer, act in batch_states.items():
            per_seq[layer].append(sequence_entropies(act, *stats[layer], alpha=alpha).cpu())
    rows = []
    for layer, chunks in per_seq.items():
        values = torch.cat(chunks)
        rows.append(
            {
                "layer": layer,
                "entropy_mean": values.mean().item(),
                # population std over sequences, as np.std in the paper's code
                "entropy_std": values.std(correction=0).item(),
                "states": states,
                "alpha": alpha,
                "n_sequences": len(values),
            }
        )
    return pd.DataFrame(rows)

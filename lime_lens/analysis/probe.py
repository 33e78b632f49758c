"""Linear-probe token separability per layer (LIMe paper §5.3, ``src/analysis/classification.py``).

Definition: collect every occurrence of each token in a token set (the paper: " is", " are",
" was", " were", 1,668 occurrences each from FineWeb-Edu) in a corpus, take the state at that
position in each layer (see :mod:`lime_lens.analysis.states`), and fit a 4-way (in general
n-way) linear classifier. Separability = mean +- std of test accuracy over a shuffled k-fold split
(k = 5, seed 42). The probe is the paper's: one ``nn.Linear``, Adam lr 1e-2, batch 64, 1 epoch,
cross-entropy. Chance level is 1 / n_classes with balanced classes.

The paper finds LIMe's values become almost perfectly separable in late layers, while its residual
states are *less* separable than the baseline's: the grammatical information has moved to values.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd
import torch
from jaxtyping import Float, Int
from torch import nn
from transformer_lens import HookedTransformer

from lime_lens.analysis.states import StateKind, iter_states

PAPER_WORDS = (" is", " are", " was", " were")


class TokenOccurrences(NamedTuple):
    seq: Int[torch.Tensor, " n"]
    """Index of the sequence holding each occurrence."""
    pos: Int[torch.Tensor, " n"]
    """Position of the occurrence in its sequence."""
    label: Int[torch.Tensor, " n"]
    """Index of the occurrence's token in the token set (the class)."""


def find_token_occurrences(
    tokens: Int[torch.Tensor, "n_seq pos"],
    token_ids: list[int],
    max_per_class: int | None = None,
    balance: bool = True,
    seed: int = 42,
) -> TokenOccurrences:
    """Occurrences of ``token_ids`` in ``tokens``; balanced to the rarest class if ``balance``.

    Subsampling (to ``max_per_class`` and/or balance) is random with ``seed``, then sorted by position.
    """
    if len(set(token_ids)) != len(token_ids) or len(token_ids) < 2:
        raise ValueError(f"token_ids must be >= 2 distinct ids, got {token_ids}")
    found = [torch.nonzero(tokens == t) for t in token_ids]
    counts = [len(f) for f in found]
    if min(counts) == 0:
        raise ValueError(f"token_ids: some tokens never occur in the corpus (counts {counts})")
    cap = min(counts) if balance else max(counts)
    cap = cap if max_per_class is None else min(cap, max_per_class)
    gen = torch.Generator().manual_seed(seed)
    picks, labels = [], []
    for label, f in enumerate(found):
        keep = f[torch.randperm(len(f), generator=gen)[:cap]]
        picks.append(keep)
        labels.append(torch.full((len(keep),), label))
    where, label_of = torch.cat(picks), torch.cat(labels)
    order = torch.argsort(where[:, 0] * tokens.shape[1] + where[:, 1])
    return TokenOccurrences(where[order, 0], where[order, 1], label_of[order])


def kfold_indices(
    n: int, n_splits: int = 5, seed: int = 42
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled k-fold (train, test) index pairs; the first ``n % n_splits`` folds get one extra."""
    if not 2 <= n_splits <= n:
        raise ValueError(f"n_splits must be in [2, n={n}], got {n_splits}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    sizes = [n // n_splits + (i < n % n_splits) for i in range(n_splits)]
    folds = torch.split(perm, sizes)
    return [(torch.cat(folds[:i] + folds[i + 1 :]), folds[i]) for i in range(n_splits)]


def train_linear_probe(
    x: Float[torch.Tensor, "n d"],
    y: Int[torch.Tensor, " n"],
    n_classes: int,
    epochs: int = 1,
    lr: float = 1e-2,
    batch_size: int = 64,
    seed: int = 42,
) -> nn.Linear:
    """The paper's probe: ``nn.Linear(d, n_classes)`` trained with Adam and cross-entropy."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        probe = nn.Linear(x.shape[1], n_classes)
    opt = torch.optim.Adam(probe.parameters(), lr=lr)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            loss = nn.functional.cross_entropy(probe(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return probe


def probe_accuracy(
    x: Float[torch.Tensor, "n d"],
    y: Int[torch.Tensor, " n"],
    n_splits: int = 5,
    seed: int = 42,
    **probe_kwargs,
) -> tuple[float, float]:
    """Mean and (population) std of k-fold test accuracy of :func:`train_linear_probe`."""
    x, y = x.float(), y.long()
    n_classes = int(y.max()) + 1
    accs = []
    for train, test in kfold_indices(len(x), n_splits, seed):
        probe = train_linear_probe(x[train], y[train], n_classes, seed=seed, **probe_kwargs)
        with torch.no_grad():
            accs.append((probe(x[test]).argmax(-1) == y[test]).float().mean())
    acc = torch.stack(accs)
    return acc.mean().item(), acc.std(correction=0).item()


@torch.no_grad()
def gather_occurrence_states(
    model: HookedTransformer,
    tokens: Int[torch.Tensor, "n_seq pos"],
    occ: TokenOccurrences,
    states: StateKind,
    batch_size: int = 8,
) -> dict[int, Float[torch.Tensor, "n d"]]:
    """Per layer, the ``states`` vector at every occurrence, in the order of ``occ``."""
    seqs = torch.unique(occ.seq)
    out: dict[int, list[torch.Tensor]] = {}
    for i, batch_states in enumerate(
        iter_states(model, tokens[seqs], states, batch_size=batch_size)
    ):
        batch_seqs = seqs[i * batch_size : (i + 1) * batch_size]
        mask = torch.isin(occ.seq, batch_seqs)  # occ is sorted by sequence, so order is kept
        local = torch.searchsorted(batch_seqs, occ.seq[mask])
        for layer, act in batch_states.items():
            out.setdefault(layer, []).append(
                act[local.to(act.device), occ.pos[mask].to(act.device)].float().cpu()
            )
    return {layer: torch.cat(chunks) for layer, chunks in out.items()}


def token_separability(
    model: HookedTransformer,
    tokens: Int[torch.Tensor, "n_seq pos"],
    words: list[str] | tuple[str, ...] = PAPER_WORDS,
    states: StateKind = "values_post",
    max_per_class: int | None = 1668,
    n_splits: int = 5,
    seed: int = 42,
    batch_size: int = 8,
    epochs: int = 1,
) -> pd.DataFrame:
    """Per-layer k-fold linear-probe accuracy separating the occurrences of ``words``.

    ``words`` are strings that must each be a single token of ``model.tokenizer`` (mind the
    leading space). Returns one row per layer: ``layer, accuracy_mean, accuracy_std, chance,
    n_per_class, states``. ``epochs`` > 1 departs from the paper's single epoch (useful when a
    small corpus gives few occurrences).
    """
    ids = [model.to_single_token(w) for w in words]
    occ = find_token_occurrences(tokens, ids, max_per_class=max_per_class, seed=seed)
    feats = gather_occurrence_states(model, tokens, occ, states, batch_size)
    rows = []
    for layer, x in feats.items():
        mean, std = probe_accuracy(x, occ.label, n_splits=n_splits, seed=seed, epochs=epochs)
        rows.append(
            {
                "layer": layer,
                "accuracy_mean": mean,
                "accuracy_std": std,
                "chance": 1 / len(ids),
                "n_per_class": len(occ.label) // len(ids),
                "states": states,
            }
        )
    return pd.DataFrame(rows)

import math

import pytest
import torch

from lime_lens.analysis.entropy import entropy_per_layer, matrix_renyi_entropy
from lime_lens.analysis.states import collect_states

from .helpers import random_tokens, tiny_vanilla


def _gram_with_spectrum(eigs: list[float], seed: int = 0) -> torch.Tensor:
    n = len(eigs)
    q, _ = torch.linalg.qr(
        torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    )
    return q @ torch.diag(torch.tensor(eigs, dtype=torch.float64)) @ q.T


@pytest.mark.parametrize("alpha", [0.5, 0.99, 2.0, 3.0])
def test_renyi_entropy_of_gram_with_known_spectrum_equals_closed_form(alpha):
    eigs = [3.0, 1.0, 0.5, 0.0, 0.0]
    p = [e / sum(eigs) for e in eigs if e > 0]
    expected = math.log(sum(pi**alpha for pi in p)) / (1 - alpha)
    got = matrix_renyi_entropy(_gram_with_spectrum(eigs), alpha)
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))


def test_renyi_entropy_at_alpha_one_is_shannon_entropy_of_normalised_spectrum():
    eigs = [3.0, 1.0, 0.5, 0.0]
    p = [e / sum(eigs) for e in eigs if e > 0]
    expected = -sum(pi * math.log(pi) for pi in p)
    torch.testing.assert_close(
        matrix_renyi_entropy(_gram_with_spectrum(eigs), 1.0),
        torch.tensor(expected, dtype=torch.float64),
    )


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_renyi_entropy_of_isotropic_rank_r_gram_is_log_r_for_every_alpha(alpha):
    gram = torch.stack([_gram_with_spectrum([2.0] * 3 + [0.0] * 4, seed=s) for s in range(2)])
    torch.testing.assert_close(
        matrix_renyi_entropy(gram, alpha), torch.full((2,), math.log(3), dtype=torch.float64)
    )


def test_renyi_entropy_rejects_non_positive_alpha():
    with pytest.raises(ValueError, match="alpha"):
        matrix_renyi_entropy(torch.eye(3), 0.0)


@pytest.mark.parametrize("states", ["values_post", "resid"])
def test_entropy_per_layer_streaming_equals_paper_in_memory_recipe(states):
    """Two-pass batched statistics equal the paper's code: all states in memory, std over (seq, tok)."""
    model, tokens = tiny_vanilla(), random_tokens(n_seq=7)
    table = entropy_per_layer(model, tokens, states=states, alpha=0.5, batch_size=3)
    for layer, h in collect_states(model, tokens, states).items():
        h = h.double()
        z = (h - h.mean(dim=(0, 1))) / (h.std(dim=(0, 1)) + 1e-5)
        ref = torch.stack([matrix_renyi_entropy(s @ s.T, 0.5) for s in z])
        row = table[table.layer == layer].iloc[0]
        torch.testing.assert_close(row.entropy_mean, ref.mean().item())
        torch.testing.assert_close(row.entropy_std, ref.std(unbiased=False).item())

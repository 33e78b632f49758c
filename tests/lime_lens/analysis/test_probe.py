import pytest
import torch

from lime_lens.analysis.probe import (
    find_token_occurrences,
    gather_occurrence_states,
    kfold_indices,
    probe_accuracy,
)
from lime_lens.analysis.states import collect_states

from .helpers import random_tokens, tiny_vanilla


def _four_clusters(n_per_class: int = 250, d: int = 32, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    means = 4.0 * torch.randn(4, d, generator=gen)
    y = torch.arange(4).repeat_interleave(n_per_class)
    return means[y] + 0.5 * torch.randn(len(y), d, generator=gen), y


def test_probe_accuracy_is_one_on_linearly_separable_four_way_data():
    x, y = _four_clusters()
    mean, std = probe_accuracy(x, y)
    torch.testing.assert_close(mean, 1.0, atol=0.01, rtol=0)
    torch.testing.assert_close(std, 0.0, atol=0.01, rtol=0)


def test_probe_accuracy_is_chance_on_shuffled_labels():
    x, y = _four_clusters(n_per_class=500)
    y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]
    mean, _ = probe_accuracy(x, y)
    torch.testing.assert_close(mean, 0.25, atol=0.04, rtol=0)


def test_kfold_indices_test_folds_partition_the_samples_and_train_is_the_complement():
    folds = kfold_indices(23, n_splits=5)
    tests = torch.cat([test for _, test in folds])
    assert sorted(tests.tolist()) == list(range(23))
    assert [len(test) for _, test in folds] == [5, 5, 5, 4, 4]
    for train, test in folds:
        assert sorted(torch.cat([train, test]).tolist()) == list(range(23))


def test_find_token_occurrences_are_balanced_capped_and_point_at_the_tokens():
    tokens = random_tokens(n_seq=20, pos=16)
    ids = [3, 7, 11]
    occ = find_token_occurrences(tokens, ids, max_per_class=4)
    assert torch.bincount(occ.label).tolist() == [4, 4, 4]
    assert (tokens[occ.seq, occ.pos] == torch.tensor(ids)[occ.label]).all()
    full = find_token_occurrences(tokens, ids)
    assert torch.bincount(full.label).tolist() == [min((tokens == t).sum().item() for t in ids)] * 3


def test_find_token_occurrences_rejects_a_token_absent_from_the_corpus():
    with pytest.raises(ValueError, match="never occur"):
        find_token_occurrences(torch.zeros(2, 5, dtype=torch.long), [0, 1])


def test_gathered_occurrence_states_equal_the_full_cache_at_those_positions():
    model, tokens = tiny_vanilla(), random_tokens(n_seq=9, pos=16)
    occ = find_token_occurrences(tokens, torch.bincount(tokens.flatten()).topk(3).indices.tolist())
    feats = gather_occurrence_states(model, tokens, occ, "values_post", batch_size=2)
    full = collect_states(model, tokens, "values_post")
    for layer in range(model.cfg.n_layers):
        torch.testing.assert_close(feats[layer], full[layer][occ.seq, occ.pos])

import pytest
import torch

from lime_lens.train.data import BatchOrder, rank_slice, take_rows


def test_every_epoch_of_the_batch_order_is_a_permutation_of_all_rows():
    order = BatchOrder(n=13, seed=3)
    for epoch in range(3):
        assert sorted(order.indices(epoch * 13, 13).tolist()) == list(range(13))
    assert not torch.equal(order.indices(0, 13), order.indices(13, 13))  # reshuffled per epoch


def test_batch_order_depends_only_on_the_position_so_resuming_anywhere_is_exact():
    stream = BatchOrder(n=10, seed=0).indices(0, 35)
    fresh = BatchOrder(n=10, seed=0)
    pieces = [fresh.indices(0, 7), BatchOrder(n=10, seed=0).indices(7, 21), fresh.indices(28, 7)]
    assert torch.equal(torch.cat(pieces), stream)


def test_different_seeds_give_different_orders():
    assert not torch.equal(
        BatchOrder(50, seed=0).indices(0, 50), BatchOrder(50, seed=1).indices(0, 50)
    )


def test_rank_slices_partition_the_global_batch_in_order():
    slices = [rank_slice(12, r, 3) for r in range(3)]
    assert [list(range(12))[s] for s in slices] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    with pytest.raises(ValueError, match="batch_size"):
        rank_slice(10, 0, 3)


def test_take_rows_indexes_tensors_and_mappings_alike():
    data = {"tokens": torch.arange(12).view(6, 2), "mask": torch.arange(6)}
    out = take_rows(data, torch.tensor([4, 1]))
    assert torch.equal(out["tokens"], torch.tensor([[8, 9], [2, 3]])) and torch.equal(
        out["mask"], torch.tensor([4, 1])
    )

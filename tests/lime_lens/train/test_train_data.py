import pytest
import torch

from lime_lens.assets import load_corpus
from lime_lens.train.data import BatchOrder, load_texts, rank_slice, split_text, take_rows


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


def test_split_text_holds_out_the_last_lines():
    train, val = split_text("\n".join(f"l{i}" for i in range(20)), val_fraction=0.1)
    assert train.split("\n")[-1] == "l17" and val == "l18\nl19"


def test_default_texts_are_the_embedded_austen_splits():
    train, val = load_texts()
    assert train == load_corpus("train") and val == load_corpus("validation")


def test_text_file_source_and_its_errors(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a\nb\nc\nd")
    assert load_texts(text_file=str(path), val_fraction=0.25) == ("a\nb\nc", "d")
    with pytest.raises(ValueError, match="text_file"):
        load_texts(text_file=str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="not both"):
        load_texts(text_file=str(path), hf_dataset="x")


def test_hf_dataset_source_reads_the_text_column_of_a_local_dataset_folder(tmp_path):
    import json as json_lib

    rows = [{"text": f"line {i}", "label": i} for i in range(20)]
    (tmp_path / "train.jsonl").write_text("\n".join(json_lib.dumps(r) for r in rows))
    train, val = load_texts(hf_dataset=str(tmp_path), hf_split="train", val_fraction=0.1)
    assert train.split("\n") == [f"line {i}" for i in range(18)] and val == "line 18\nline 19"
    with pytest.raises(ValueError, match="hf_text_column"):
        load_texts(hf_dataset=str(tmp_path), hf_text_column="body")

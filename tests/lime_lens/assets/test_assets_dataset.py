import pytest
import torch

from lime_lens.assets import load_gpt2_tokenizer, load_token_dataset, load_tokenizer
from lime_lens.assets.dataset import pack_tokens


def test_rows_are_bos_plus_consecutive_non_overlapping_chunks_of_the_stream():
    rows = pack_tokens(list(range(10, 21)), context_size=4, bos_token_id=0)
    assert rows.tolist() == [[0, 10, 11, 12], [0, 13, 14, 15], [0, 16, 17, 18]]  # 19, 20 dropped
    assert rows.dtype == torch.int64


def test_validation_dataset_has_an_int64_tokens_column_that_decodes_back_to_the_corpus():
    ds = load_token_dataset("validation", context_size=64)
    assert ds.column_names == ["tokens"]
    tokens = (
        ds["tokens"][:3]
        if isinstance(ds["tokens"], torch.Tensor)
        else torch.stack(list(ds["tokens"][:3]))
    )
    assert tokens.shape == (3, 64) and tokens.dtype == torch.int64
    assert (tokens[:, 0] == 0).all()
    from lime_lens.assets import load_corpus

    text = load_tokenizer().decode(tokens[:, 1:].flatten())
    assert load_corpus("validation").startswith(text)


def test_a_given_tokenizer_is_used_with_its_own_bos():
    ds = load_token_dataset("validation", context_size=32, tokenizer=load_gpt2_tokenizer())
    assert int(ds[0]["tokens"][0]) == 50256 and int(ds[0]["tokens"].max()) > 4096


def test_context_size_below_two_raises():
    with pytest.raises(ValueError, match="context_size"):
        load_token_dataset("validation", context_size=1)

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
    tokens = ds[:3]["tokens"]
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


def test_saelens_activations_store_reads_the_dataset_rows_unchanged_with_prepend_bos_false():
    from sae_lens import ActivationsStore, HookedSAETransformer

    from lime_lens.assets import load_default_model

    model = load_default_model(HookedSAETransformer)
    ds = load_token_dataset("validation", context_size=64)
    store = ActivationsStore(
        model=model,
        dataset=ds,
        streaming=False,
        hook_name="blocks.1.hook_resid_post",
        hook_head_index=None,
        context_size=64,
        d_in=model.cfg.d_model,
        n_batches_in_buffer=2,
        total_training_tokens=64 * 32,
        store_batch_size_prompts=4,
        train_batch_size_tokens=64,
        prepend_bos=False,
        normalize_activations="none",
        device=torch.device("cpu"),
        dtype="float32",
    )
    batch = store.get_batch_tokens()
    assert torch.equal(batch, torch.stack([ds[i]["tokens"] for i in range(4)]))
    _, cache = model.run_with_cache(batch, names_filter="blocks.1.hook_resid_post")
    torch.testing.assert_close(
        store.get_activations(batch), cache["blocks.1.hook_resid_post"], rtol=0, atol=0
    )

import json

import pytest
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from lime_lens.assets import load_corpus, load_gpt2_tokenizer, load_tokenizer
from lime_lens.assets.paths import BPE_TOKENIZER_DIR
from lime_lens.assets.tokenizer import train_bpe_tokenizer


def test_gpt2_tokenizer_gives_the_canonical_gpt2_ids():
    tok = load_gpt2_tokenizer()
    assert len(tok) == 50257 and tok.eos_token_id == 50256 == tok.bos_token_id
    assert tok("Hello world! The quick brown fox")["input_ids"] == [
        15496,
        995,
        0,
        383,
        2068,
        7586,
        21831,
    ]


def test_default_tokenizer_is_a_4096_entry_bpe_with_endoftext_as_every_special_token():
    tok = load_tokenizer()
    assert len(tok) == 4096
    assert tok.bos_token == tok.eos_token == tok.pad_token == "<|endoftext|>"
    assert tok.bos_token_id == tok.eos_token_id == tok.pad_token_id == 0


@pytest.mark.parametrize("loader", [load_tokenizer, load_gpt2_tokenizer])
def test_tokenizers_round_trip_the_validation_text_exactly(loader):
    tok, text = loader(), load_corpus("validation")[:20_000] + " naïve café"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


@pytest.mark.parametrize("loader", [load_tokenizer, load_gpt2_tokenizer])
def test_hooked_transformer_accepts_the_tokenizers_offline_and_prepends_bos(loader):
    tok = loader()
    cfg = HookedTransformerConfig(
        n_layers=1, d_model=8, n_ctx=16, d_head=4, d_vocab=len(tok), act_fn="relu"
    )
    model = HookedTransformer(cfg, tokenizer=tok)  # TL re-loads the tokenizer by name_or_path
    ids = tok("Emma Woodhouse", add_special_tokens=False)["input_ids"]
    assert model.to_tokens("Emma Woodhouse").tolist() == [[tok.bos_token_id, *ids]]
    assert model.to_string(torch.tensor(ids)) == "Emma Woodhouse"


@pytest.mark.slow
def test_retraining_on_the_train_split_reproduces_the_shipped_tokenizer():
    fresh = json.loads(train_bpe_tokenizer(load_corpus("train")).backend_tokenizer.to_str())
    shipped = json.loads((BPE_TOKENIZER_DIR / "tokenizer.json").read_text())
    assert fresh["model"]["vocab"] == shipped["model"]["vocab"]
    assert fresh["model"]["merges"] == shipped["model"]["merges"]


def test_too_small_vocab_raises():
    with pytest.raises(ValueError, match="vocab_size"):
        train_bpe_tokenizer("abc", vocab_size=100)

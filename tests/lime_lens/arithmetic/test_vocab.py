import pytest
import torch

from lime_lens.arithmetic.vocab import CHARS, CharVocab


def test_encode_decode_round_trips_every_character():
    vocab = CharVocab()
    text = "^" + "7-2*8+3=" + "0123456789" + "$..."
    assert vocab.decode(vocab.encode(text)) == text
    assert len(vocab) == len(CHARS) and vocab.pad_id == 0


def test_encoded_rows_are_bos_expression_equals_answer_eos_then_padding():
    vocab = CharVocab()
    rows = vocab.encode_examples([("7-2*8", "1"), ("3+4", "-12")], length=12)
    assert [vocab.decode(t) for t in rows["tokens"]] == ["^7-2*8=1$...", "^3+4=-12$..."]
    answer_chars = [
        "".join(ch for ch, m in zip(vocab.decode(t), mask, strict=True) if m)
        for t, mask in zip(rows["tokens"], rows["answer_mask"], strict=True)
    ]
    assert answer_chars == ["1$", "-12$"]
    assert rows["tokens"].dtype == torch.int64 and rows["answer_mask"].dtype == torch.bool


def test_unknown_character_and_too_short_length_raise():
    vocab = CharVocab()
    with pytest.raises(ValueError, match="'/'"):
        vocab.encode("3/4")
    with pytest.raises(ValueError, match="shorter"):
        vocab.encode_examples([("3+4", "7")], length=4)

import hashlib
import json
import math

import pytest

from lime_lens.assets import load_corpus
from lime_lens.assets.corpus import NOVELS, split_novels
from lime_lens.assets.paths import DATA_DIR


def test_split_puts_the_last_five_percent_of_each_novel_in_validation():
    novels = {name: [f"{name}-{i}" for i in range(40)] for name in NOVELS}
    splits = split_novels(novels)
    cut = math.ceil(0.95 * 40)
    assert splits["validation"].split("\n") == [f"{n}-{i}" for n in NOVELS for i in range(cut, 40)]
    assert splits["train"].split("\n") == [f"{n}-{i}" for n in NOVELS for i in range(cut)]


def test_embedded_corpus_is_the_six_novels_with_a_disjoint_tail_split():
    train, val = load_corpus("train"), load_corpus("validation")
    assert train.startswith("SENSE AND SENSIBILITY")
    assert "It is a truth universally acknowledged, that a single man in possession" in train
    for title in (
        "PRIDE AND PREJUDICE",
        "MANSFIELD PARK",
        "EMMA",
        "NORTHANGER ABBEY",
        "Persuasion",
    ):
        assert title in train
    assert (len(train), len(val)) == (3_816_007, 209_019)
    assert 0.04 < len(val) / (len(train) + len(val)) < 0.06


def test_embedded_files_match_the_recorded_sha256_sums():
    sums = json.loads((DATA_DIR / "SHA256SUMS.json").read_text())["outputs"]
    assert {
        "austen/train.txt.gz",
        "gpt2_tokenizer/vocab.json",
        "bpe4096_tokenizer/tokenizer.json",
    } <= set(sums)
    for rel, digest in sums.items():
        assert hashlib.sha256((DATA_DIR / rel).read_bytes()).hexdigest() == digest, rel


def test_unknown_split_raises_naming_it(unchecked):
    with pytest.raises(ValueError, match="split"):
        load_corpus("test")  # type: ignore[arg-type]

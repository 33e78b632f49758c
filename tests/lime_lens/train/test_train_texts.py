import pytest

from lime_lens.assets import load_corpus
from lime_lens.train.cli import load_texts
from lime_lens.train.texts import read_texts, split_text


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
    with pytest.raises(ValueError, match="give text_file or hf_dataset"):
        read_texts()  # load_texts falls back to the embedded corpus; read_texts names both


def test_hf_dataset_source_reads_the_text_column_of_a_local_dataset_folder(tmp_path):
    import json as json_lib

    rows = [{"text": f"line {i}", "label": i} for i in range(20)]
    (tmp_path / "train.jsonl").write_text("\n".join(json_lib.dumps(r) for r in rows))
    train, val = load_texts(hf_dataset=str(tmp_path), hf_split="train", val_fraction=0.1)
    assert train.split("\n") == [f"line {i}" for i in range(18)] and val == "line 18\nline 19"
    with pytest.raises(ValueError, match="hf_text_column"):
        load_texts(hf_dataset=str(tmp_path), hf_text_column="body")

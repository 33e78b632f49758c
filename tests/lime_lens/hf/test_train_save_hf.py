"""Issue 21 item 6: ``python -m lime_lens.train ... --save-format hf`` leaves a model that is one
``from_pretrained`` away, with the logits of the same run saved in the TransformerLens format."""

import json
import subprocess
import sys

import pytest

# HookedLIMeTransformer is a HookedTransformer: these tests need transformer-lens < 4.
pytest.importorskip("transformer_lens.HookedTransformer")
import torch
import transformers
from torch.testing import assert_close

import lime_lens
from lime_lens import HookedLIMeTransformer
from lime_lens.hf.tiny import save_tiny_lime
from lime_lens.train.cli import main

TINY = "--n-layers 3 --d-model 32 --n-heads 2 --n-key-value-heads 1 --d-head 16 --d-mlp 64"
TINY += " --n-ctx 32 --context-size 32 --batch-size 4 --warmup-steps 2 --eval-interval 0"
TINY += " --no-progress --device cpu --max-steps 3 --seed 0"
IDS = torch.randint(1, 4096, (2, 12), generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    from lime_lens.assets import load_corpus

    path = tmp_path_factory.mktemp("text") / "austen_val.txt"
    path.write_text(load_corpus("validation")[:40_000])
    return path


def train(out, text_file, *extra):
    main(
        [
            "--arch",
            "lime-kv",
            "--out",
            str(out),
            "--text-file",
            str(text_file),
            *TINY.split(),
            *extra,
        ]
    )
    return out / "model"


def test_a_trained_model_saved_as_hf_opens_with_auto_and_matches_the_lime_save(tmp_path, text_file):
    hf_folder = train(tmp_path / "hf", text_file, "--save-format", "hf")
    lime_folder = train(tmp_path / "lime", text_file)
    assert json.loads((hf_folder / "config.json").read_text())["model_type"] == "lime"
    assert json.loads((hf_folder / "metrics.json").read_text())["arch"] == "lime-kv"
    hf = transformers.AutoModelForCausalLM.from_pretrained(hf_folder)
    tokenizer = transformers.AutoTokenizer.from_pretrained(hf_folder)
    assert isinstance(hf, lime_lens.LIMeForCausalLM) and len(tokenizer) == 4096
    hooked = HookedLIMeTransformer.from_pretrained(lime_folder)
    assert bool(hooked.blocks[1].attn.b_O.any())  # trained biases, carried by the HF model
    with torch.no_grad():
        assert_close(hf(IDS).logits, hooked(IDS), atol=1e-5, rtol=1e-5)


def test_save_format_hf_refuses_a_vanilla_arch_before_training(tmp_path, text_file):
    with pytest.raises(ValueError, match="--save-format hf needs a kv-routed LIMe arch"):
        main(
            [
                "--arch",
                "vanilla",
                "--out",
                str(tmp_path / "v"),
                "--text-file",
                str(text_file),
                *TINY.split(),
                "--save-format",
                "hf",
            ]
        )
    assert not (tmp_path / "v").exists()  # nothing written


@pytest.mark.slow
def test_done_when_a_fresh_interpreter_opens_a_saved_folder_with_auto(tmp_path):
    """The issue's done-when line, verbatim, in a new process (registration on import)."""
    folder = save_tiny_lime(tmp_path / "lime")
    code = (
        "import lime_lens, transformers; "
        f"m = transformers.AutoModelForCausalLM.from_pretrained({str(folder)!r}); "
        "print(type(m).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "LIMeForCausalLM"

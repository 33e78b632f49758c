"""LIMeForCausalLM opens official corl-team/lime v2 folders unchanged, and refuses bad ones."""

import json

import pytest
import torch
import transformers
from official_helpers import HF_CONFIG, official_forward, official_state_dict
from safetensors.torch import save_file
from torch.testing import assert_close

from lime_lens import LIMeForCausalLM
from lime_lens.hf.configuration import LIMeHFConfig
from lime_lens.hf.official import hf_to_official, official_to_hf

pytestmark = pytest.mark.tl4  # no TransformerLens import: runs under transformer-lens 4 too

IDS = torch.randint(0, 37, (2, 9), generator=torch.Generator().manual_seed(3))


def write_official(folder, hf=HF_CONFIG, sd=None, lime_config=True):
    """An official v2 folder as the official code saves it (model_type llama, lime_config block)."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = {  # what LlamaConfig.save_pretrained (transformers 4.x) writes besides the shape
        "model_type": "llama",
        "architectures": ["LIMeForCausalLM"],
        "transformers_version": "4.51.3",
        "torch_dtype": "float32",
        "rope_scaling": None,
        "attention_bias": False,
        "mlp_bias": False,
        "pretraining_tp": 1,
        "initializer_range": 0.02,
        "use_cache": True,
        "bos_token_id": 1,
        "eos_token_id": 2,
    } | hf
    if lime_config:
        raw["lime_config"] = {"use_lime": True}
    (folder / "config.json").write_text(json.dumps(raw))
    save_file(official_state_dict(hf) if sd is None else sd, str(folder / "model.safetensors"))
    return folder


@pytest.mark.parametrize("n_kv", [2, 4])
def test_an_official_folder_opens_unchanged_and_matches_the_official_forward(tmp_path, n_kv):
    hf = HF_CONFIG | {"num_key_value_heads": n_kv}
    folder = write_official(tmp_path / "official", hf)
    model = LIMeForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        logits = model(IDS).logits
    assert_close(logits, official_forward(official_state_dict(hf), hf, IDS), atol=1e-5, rtol=1e-5)


def test_a_folder_with_only_the_class_name_is_recognised(tmp_path):
    folder = write_official(tmp_path / "official", lime_config=False)
    assert isinstance(LIMeForCausalLM.from_pretrained(folder), LIMeForCausalLM)


def test_official_to_hf_and_back_is_exact():
    sd = official_state_dict()
    config = LIMeHFConfig.from_llama_dict(HF_CONFIG)
    back = hf_to_official(official_to_hf(sd, config), config)
    assert set(back) == set(sd)
    for key, value in sd.items():
        assert torch.equal(back[key], value), key


def test_tied_official_folder_without_lm_head_loads(tmp_path):
    hf = HF_CONFIG | {"tie_word_embeddings": True}
    sd = official_state_dict(hf)
    del sd["lm_head.weight"]
    model = LIMeForCausalLM.from_pretrained(write_official(tmp_path / "o", hf, sd))
    assert torch.equal(model.lm_head.weight, sd["model.embed_tokens.weight"])


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda sd: sd.pop("model.layers.2.self_attn.lime_router.static_weights"),
            r"missing key model\.layers\.2\.self_attn\.lime_router\.static_weights \(expected shape \(2, 6\)\)",
        ),
        (
            lambda sd: sd.__setitem__("model.layers.0.extra.weight", torch.zeros(3)),
            r"unexpected key model\.layers\.0\.extra\.weight",
        ),
        (
            lambda sd: sd.__setitem__(
                "model.layers.1.self_attn.kv_proj_weight", torch.zeros(8, 32)
            ),
            r"model\.layers\.1\.self_attn\.kv_proj_weight has shape \(8, 32\), expected \(32, 32\)",
        ),
        (
            lambda sd: sd.__setitem__(
                "model.layers.1.attention_router.static_weights", torch.zeros(4, 2)
            ),
            r"model\.layers\.1\.attention_router\.static_weights is a key of the official v1",
        ),
    ],
)
def test_a_bad_official_key_raises_naming_it_and_its_shape(tmp_path, edit, message):
    sd = official_state_dict()
    edit(sd)
    folder = write_official(tmp_path / "bad", sd=sd)
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(ValueError, match=message):
        LIMeForCausalLM.from_pretrained(folder)
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written


def test_a_folder_that_is_not_lime_raises_and_writes_nothing(tmp_path):
    folder = tmp_path / "llama"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(HF_CONFIG | {"model_type": "llama"}))
    with pytest.raises(ValueError, match=r"model_type='llama' is not a LIMe model"):
        LIMeForCausalLM.from_pretrained(folder)
    assert [p.name for p in folder.iterdir()] == ["config.json"]


def test_hub_options_are_accepted_and_model_changing_ones_refused(tmp_path):
    """TransformerBridge and AutoModel pass hub options through; a local folder ignores them."""
    folder = write_official(tmp_path / "official")
    model = LIMeForCausalLM.from_pretrained(
        folder, local_files_only=True, revision="main", trust_remote_code=False, device_map="cpu"
    )
    assert isinstance(model, LIMeForCausalLM)
    with pytest.raises(ValueError, match=r"options \['load_in_8bit'\] are not supported"):
        LIMeForCausalLM.from_pretrained(folder, load_in_8bit=True)
    with pytest.raises(ValueError, match="device_map must be a device"):
        LIMeForCausalLM.from_pretrained(folder, device_map="auto")


def test_the_dtype_comes_from_config_json_unless_asked(tmp_path):
    """As transformers 5's from_pretrained (dtype "auto"): the official bf16 runs load in bf16."""
    folder = write_official(tmp_path / "official", HF_CONFIG | {"torch_dtype": "bfloat16"})
    assert LIMeForCausalLM.from_pretrained(folder).dtype == torch.bfloat16
    assert LIMeForCausalLM.from_pretrained(folder, dtype=torch.float32).dtype == torch.float32


def test_an_official_folder_saved_again_opens_with_auto_and_keeps_the_logits(tmp_path):
    model = LIMeForCausalLM.from_pretrained(write_official(tmp_path / "official"))
    model.save_pretrained(tmp_path / "lime")
    assert json.loads((tmp_path / "lime" / "config.json").read_text())["model_type"] == "lime"
    again = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "lime")
    assert isinstance(again, LIMeForCausalLM)
    with torch.no_grad():
        assert torch.equal(again(IDS).logits, model(IDS).logits)


def test_an_official_folder_without_weights_raises_naming_the_file(tmp_path):
    folder = write_official(tmp_path / "official")
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors: missing"):
        LIMeForCausalLM.from_pretrained(folder)

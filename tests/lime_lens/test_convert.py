"""Converter from the official corl-team/lime v2 checkpoint layout, against a plain-torch reference."""

import json

import pytest
import torch
from official_helpers import HF_CONFIG, official_forward, official_state_dict
from safetensors.torch import save_file
from torch.testing import assert_close

from lime_lens.official.convert import (
    config_from_official,
    convert_official_state_dict,
    from_official_checkpoint,
    load_official_state_dict,
)

IDS = torch.randint(0, 37, (2, 9), generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("n_kv", [2, 4])
def test_converted_model_matches_the_official_forward(n_kv):
    hf = HF_CONFIG | {"num_key_value_heads": n_kv}
    sd = official_state_dict(hf)
    model = load_official_state_dict(sd, config_from_official(hf, device="cpu"))
    with torch.no_grad():
        assert_close(model(IDS), official_forward(sd, hf, IDS), atol=1e-5, rtol=1e-5)


def test_routes_keep_the_official_layer_major_column_order():
    sd = official_state_dict()
    params = convert_official_state_dict(sd, config_from_official(HF_CONFIG, device="cpu"))
    official = sd["model.layers.2.self_attn.lime_router.static_weights"]  # (R, 3 R)
    route = params["blocks.2.lime.route"]  # [h, l', h']
    for h, src, g in [(0, 0, 1), (1, 2, 0), (1, 1, 1)]:
        assert route[h, src, g] == official[h, src * 2 + g]


def test_tied_embeddings_without_lm_head_load(tmp_path):
    hf = HF_CONFIG | {"tie_word_embeddings": True}
    sd = official_state_dict(hf)
    del sd["lm_head.weight"]
    (tmp_path / "config.json").write_text(json.dumps(hf))
    save_file(sd, str(tmp_path / "model.safetensors"))
    model = from_official_checkpoint(tmp_path, device="cpu")
    tied = sd | {"lm_head.weight": sd["model.embed_tokens.weight"]}
    with torch.no_grad():
        assert_close(model(IDS), official_forward(tied, hf, IDS), atol=1e-5, rtol=1e-5)


def test_unknown_key_raises_naming_it():
    sd = official_state_dict() | {"model.layers.0.self_attn.k_proj.weight": torch.zeros(16, 32)}
    with pytest.raises(ValueError, match="k_proj"):
        convert_official_state_dict(sd, config_from_official(HF_CONFIG, device="cpu"))


def test_missing_router_key_raises_naming_it():
    sd = official_state_dict()
    del sd["model.layers.2.self_attn.lime_router.static_weights"]
    with pytest.raises(ValueError, match=r"layers\.2\.self_attn\.lime_router"):
        convert_official_state_dict(sd, config_from_official(HF_CONFIG, device="cpu"))


def test_router_of_the_wrong_shape_raises_naming_it():
    sd = official_state_dict()
    sd["model.layers.1.self_attn.lime_router.static_weights"] = torch.zeros(2, 6)
    with pytest.raises(ValueError, match="static_weights has shape"):
        convert_official_state_dict(sd, config_from_official(HF_CONFIG, device="cpu"))


@pytest.mark.parametrize("missing", ["config.json", "model.safetensors"])
def test_a_folder_without_the_official_files_raises_naming_the_file(tmp_path, missing):
    (tmp_path / "config.json").write_text(json.dumps(HF_CONFIG))
    save_file({"model.norm.weight": torch.ones(4)}, str(tmp_path / "model.safetensors"))
    (tmp_path / missing).unlink()
    with pytest.raises(FileNotFoundError, match=missing):
        from_official_checkpoint(tmp_path)

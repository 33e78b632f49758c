"""Export to the official layout: ours -> official -> ours is exact, and the official forward agrees."""

import json

import pytest
import torch
from lime_helpers import llama_cfg
from safetensors.torch import load_file
from test_convert import official_forward
from test_convert_v1 import v1_forward
from torch.testing import assert_close

from lime_lens import HookedLIMeTransformer
from lime_lens.official.convert import (
    config_from_official,
    from_official_checkpoint,
    official_v2_layout,
)
from lime_lens.official.convert_v1 import from_official_v1_checkpoint, official_v1_layout
from lime_lens.official.export import to_official_checkpoint, to_official_state_dict

IDS = torch.randint(0, 61, (2, 7), generator=torch.Generator().manual_seed(5))
V1_LOOKUPS = ["static", "dynamic", "top_p"]


def random_model(**overrides):
    """A small Llama-style LIMe model with every non-bias parameter perturbed (norm gains too)."""
    model = HookedLIMeTransformer(llama_cfg(**overrides))
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if not name.rsplit(".", 1)[-1].lstrip("_").startswith("b_"):
                param.add_(0.1 * torch.randn(param.shape, generator=gen))
    return model


def v1_model(lookup):
    return random_model(n_key_value_heads=None, lime_mode="residual", lime_lookup=lookup)


def assert_same_model(a, b):
    with torch.no_grad():
        assert torch.equal(a(IDS), b(IDS))
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    assert pa.keys() == pb.keys() and all(torch.equal(pa[k], pb[k]) for k in pa)


def test_kv_model_round_trips_through_the_official_v2_folder_exactly(tmp_path):
    model = random_model()
    to_official_checkpoint(model, tmp_path / "official")
    state = load_file(str(tmp_path / "official" / "model.safetensors"))
    hf = json.loads((tmp_path / "official" / "config.json").read_text())
    assert {k: tuple(v.shape) for k, v in state.items()} == official_v2_layout(model.cfg, False)
    assert hf["num_key_value_heads"] == 2 and hf["tie_word_embeddings"] is False
    assert_same_model(model, from_official_checkpoint(tmp_path / "official", device="cpu"))


def test_exported_v2_state_runs_the_same_in_the_official_forward():
    model = random_model()
    hf, state = to_official_state_dict(model)
    with torch.no_grad():
        assert_close(official_forward(state, hf, IDS), model(IDS), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("lookup", V1_LOOKUPS)
def test_residual_model_round_trips_through_the_official_v1_folder_exactly(tmp_path, lookup):
    model = v1_model(lookup)
    to_official_checkpoint(model, tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    assert {k: tuple(v.shape) for k, v in state.items()} == official_v1_layout(model.cfg, False)
    loaded = from_official_v1_checkpoint(tmp_path, device="cpu")  # top_p from config.json
    assert loaded.cfg.lime_lookup == lookup
    assert_same_model(model, loaded)


@pytest.mark.parametrize("lookup", V1_LOOKUPS)
def test_exported_v1_state_runs_the_same_in_the_v1_forward(lookup):
    model = v1_model(lookup)
    hf, state = to_official_state_dict(model)
    assert hf["lime_config"]["dynamic"] == (lookup == "dynamic")
    with torch.no_grad():
        assert_close(v1_forward(state, hf, IDS), model(IDS), atol=1e-5, rtol=1e-5)


def test_tied_embeddings_leave_lm_head_out_and_reload(tmp_path):
    model = random_model()
    with torch.no_grad():
        model.unembed.W_U.copy_(model.embed.W_E.T)
    to_official_checkpoint(model, tmp_path)
    assert "lm_head.weight" not in load_file(str(tmp_path / "model.safetensors"))
    assert json.loads((tmp_path / "config.json").read_text())["tie_word_embeddings"] is True
    assert_same_model(model, from_official_checkpoint(tmp_path, device="cpu"))


def test_config_json_is_the_inverse_of_config_from_official():
    model = random_model()
    hf, _ = to_official_state_dict(model)
    back = config_from_official(hf, device="cpu")
    fields = ("d_model", "d_head", "n_heads", "n_key_value_heads", "d_mlp", "n_layers", "n_ctx")
    fields += ("d_vocab", "eps", "rotary_base", "act_fn", "lime_mode")
    assert {f: getattr(back, f) for f in fields} == {f: getattr(model.cfg, f) for f in fields}


def test_folded_norms_export_as_unit_gains():
    model = random_model()
    folded = HookedLIMeTransformer(model.cfg)
    folded.load_and_process_state_dict(
        model.state_dict(), fold_ln=True, center_writing_weights=False, center_unembed=False
    )
    hf, state = to_official_state_dict(folded)
    assert torch.equal(state["model.layers.1.input_layernorm.weight"], torch.ones(32))
    with torch.no_grad():
        assert_close(official_forward(state, hf, IDS), model(IDS), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (dict(normalization_type="LN"), "normalization_type"),
        (dict(positional_embedding_type="standard"), "positional_embedding_type"),
        (dict(gated_mlp=False), "gated_mlp"),
        (dict(act_fn="gelu_pytorch_tanh"), "act_fn"),
        (dict(lime_mode="residual", lime_lookup="static"), "n_key_value_heads"),
    ],
)
def test_unrepresentable_models_raise_naming_the_field_and_write_nothing(
    tmp_path, overrides, match
):
    with pytest.raises(ValueError, match=match):
        to_official_checkpoint(random_model(**overrides), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_nonzero_bias_raises_naming_the_parameter():
    model = random_model()
    with torch.no_grad():
        model.blocks[1].mlp.b_out[0] = 1.0
    with pytest.raises(ValueError, match=r"blocks\.1\.mlp\.b_out is not zero"):
        to_official_state_dict(model)


def test_forced_tie_with_different_unembedding_raises():
    with pytest.raises(ValueError, match="tie_word_embeddings"):
        to_official_state_dict(random_model(), tie_word_embeddings=True)


def test_hf_llama_reads_the_config_and_all_but_the_lime_keys(tmp_path):
    """The official classes subclass HF LlamaForCausalLM: its config loads, and a plain Llama
    differs from the exported file only by the LIMe K/V keys (the tied lm_head is accepted by
    safetensors' load_model, the official v1 analysis loader)."""
    transformers = pytest.importorskip("transformers")
    from safetensors.torch import load_model

    model = random_model()
    with torch.no_grad():
        model.unembed.W_U.copy_(model.embed.W_E.T)
    to_official_checkpoint(model, tmp_path)
    hf_cfg = transformers.LlamaConfig.from_pretrained(tmp_path)
    assert (hf_cfg.num_key_value_heads, hf_cfg.head_dim, hf_cfg.tie_word_embeddings) == (2, 8, True)
    llama = transformers.LlamaForCausalLM(hf_cfg)
    missing, unexpected = load_model(llama, tmp_path / "model.safetensors", strict=False)
    layers = range(model.cfg.n_layers)
    assert set(missing) == {
        f"model.layers.{i}.self_attn.{w}_proj.weight" for i in layers for w in "kv"
    }
    assert set(unexpected) == {f"model.layers.{i}.self_attn.kv_proj_weight" for i in layers} | {
        f"model.layers.{i}.self_attn.lime_router.static_weights" for i in layers if i
    }
    assert torch.equal(llama.lm_head.weight, model.embed.W_E)

"""LIMeConfig validation and JSON round trip (named test_lime_config: test_config.py exists in a sibling test folder)."""

import pytest
from lime_helpers import gpt2_cfg, llama_cfg

from lime_lens import LIMeConfig
from lime_lens.serialization import config_from_json_dict, config_to_json_dict


def test_defaults_are_paper_v2_kv_mode_with_static_router():
    cfg = llama_cfg()
    assert (cfg.lime_mode, cfg.lime_lookup, cfg.lime_top_p) == ("kv", "static", 0.9)
    assert cfg.n_kv_heads == 2 and gpt2_cfg().n_kv_heads == 4


def test_unknown_routing_mode_raises_naming_the_field():
    with pytest.raises(ValueError, match="lime_mode"):
        llama_cfg(lime_mode="dense")


def test_unknown_lookup_raises_naming_the_field():
    with pytest.raises(ValueError, match="lime_lookup"):
        llama_cfg(lime_mode="residual", lime_lookup="sparse")


def test_residual_lookup_with_kv_mode_raises():
    with pytest.raises(ValueError, match="lime_lookup"):
        llama_cfg(lime_mode="kv", lime_lookup="dynamic")


@pytest.mark.parametrize("top_p", [0.0, -0.1, 1.0001, 2.0])
def test_top_p_outside_unit_interval_raises(top_p):
    with pytest.raises(ValueError, match="lime_top_p"):
        llama_cfg(lime_mode="residual", lime_lookup="top_p", lime_top_p=top_p)


def test_top_p_of_one_is_accepted():
    assert llama_cfg(lime_mode="residual", lime_lookup="top_p", lime_top_p=1.0).lime_top_p == 1.0


@pytest.mark.parametrize("n_kv", [3, 0, 8])
def test_kv_heads_not_dividing_heads_raises(n_kv):
    with pytest.raises(ValueError, match="n_key_value_heads"):
        llama_cfg(n_key_value_heads=n_kv)


@pytest.mark.parametrize(
    "flag, value",
    [
        ("use_split_qkv_input", True),
        ("parallel_attn_mlp", True),
        ("positional_embedding_type", "shortformer"),
    ],
)
def test_block_variants_lime_does_not_reproduce_raise(flag, value):
    with pytest.raises(ValueError, match=flag):
        gpt2_cfg(**{flag: value})


@pytest.mark.parametrize("build_cfg", [llama_cfg, gpt2_cfg])
def test_config_survives_json_round_trip(build_cfg):
    cfg = build_cfg(lime_mode="residual", lime_lookup="top_p", lime_top_p=0.7)
    again = config_from_json_dict(LIMeConfig, config_to_json_dict(cfg))
    assert isinstance(again, LIMeConfig)
    assert config_to_json_dict(again) == config_to_json_dict(cfg)


def test_vanilla_config_is_the_same_architecture_without_lime_fields():
    from dataclasses import fields

    from transformer_lens import HookedTransformerConfig

    cfg = llama_cfg(attn_impl="explicit", lime_sources="last_j", lime_sources_j=3)
    vanilla = cfg.vanilla_config()
    assert type(vanilla) is HookedTransformerConfig
    shared = [f.name for f in fields(HookedTransformerConfig) if f.name != "n_params"]
    assert {n: getattr(vanilla, n) for n in shared} == {n: getattr(cfg, n) for n in shared}

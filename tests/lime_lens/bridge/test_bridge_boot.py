"""Booting LIMe in TransformerBridge: saved folders offline, official folders, models in memory,
the adapter's registration, and the configs it refuses (transformer-lens 3.9 and 4.3)."""

import json
from importlib.metadata import entry_points

import pytest
import torch
from bridge_helpers import KV_HEADS, TOL, boot, hf_model, logits, save_lime, save_official
from torch import nn
from torch.testing import assert_close
from transformer_lens.factories.architecture_adapter_factory import ArchitectureAdapterFactory

from lime_lens.bridge import boot_from_model
from lime_lens.bridge.adapter import LIMeArchitectureAdapter
from lime_lens.bridge.router import UnsupportedLIMeModel
from lime_lens.hf.tiny import embedded_tokenizer, tiny_lime_model
from lime_lens.routers.kv import KVStaticRouter

pytestmark = pytest.mark.tl4


@pytest.mark.parametrize("heads", KV_HEADS)
def test_boot_transformers_opens_a_saved_folder_offline_and_matches_hf_lime(tmp_path, heads):
    folder = save_lime(tmp_path / "lime", KV_HEADS[heads])
    bridge = boot(folder)
    assert isinstance(bridge.adapter, LIMeArchitectureAdapter)
    assert_close(logits(bridge), logits(hf_model(folder, "eager")), **TOL)
    assert_close(logits(bridge), logits(hf_model(folder, "sdpa")), **TOL)


def test_an_official_folder_boots_as_lime_not_as_a_plain_llama(tmp_path):
    # model_type "llama": transformers alone would build LlamaForCausalLM and drop the routes.
    folder = save_official(tmp_path / "official", n_kv=2)
    bridge = boot(folder)
    assert isinstance(bridge.adapter, LIMeArchitectureAdapter)
    assert "blocks.2.lime.hook_route" in bridge.hook_dict
    reference = tiny_lime_model(0, num_key_value_heads=2)
    assert_close(logits(bridge), logits(reference), **TOL)


def test_a_model_in_memory_boots_and_shares_its_weights_with_the_bridge():
    model = tiny_lime_model(1)
    model.config.architectures = None  # as built in memory, before any save
    bridge = boot_from_model(model, embedded_tokenizer())
    assert_close(logits(bridge), logits(model), **TOL)
    with torch.no_grad():
        model.model.layers[2].lime.route.mul_(-1.0)  # an edit to the HF model reaches the bridge
    assert_close(logits(bridge), logits(model), **TOL)


def test_the_adapter_is_declared_as_an_entry_point_and_registered_on_import():
    (entry,) = [
        e
        for e in entry_points(group="transformer_lens.architectures")
        if e.name == "LIMeForCausalLM"
    ]
    assert entry.load() is LIMeArchitectureAdapter
    assert ArchitectureAdapterFactory._adapters["LIMeForCausalLM"] is LIMeArchitectureAdapter


def test_booting_warns_about_no_adapter_override(tmp_path, recwarn):
    folder = save_lime(tmp_path / "lime", 2)
    boot(folder)
    overrides = [w for w in recwarn if "override a native adapter" in str(w.message)]
    assert overrides == []


class _ResidualKV(KVStaticRouter):
    source = "residual"  # declares a v1 source the bridge attention does not feed


@pytest.mark.parametrize(
    "router, named",
    [(nn.Identity(), "Identity"), (_ResidualKV, "_ResidualKV")],
    ids=["not-a-router", "residual-source"],
)
def test_a_router_the_adapter_cannot_map_raises_naming_it(router, named):
    model = tiny_lime_model(0)
    if isinstance(router, type):
        router = router(model.config.router_settings(), 1)
    model.model.layers[1].lime = router
    with pytest.raises(UnsupportedLIMeModel, match=rf"model\.layers\.1\.lime.*{named}"):
        boot_from_model(model, embedded_tokenizer())


def test_a_non_lime_config_under_the_lime_architecture_raises_naming_its_model_type(tmp_path):
    folder = save_lime(tmp_path / "lime", 2)
    raw = json.loads((folder / "config.json").read_text())
    raw = {k: v for k, v in raw.items() if not k.startswith("lime")} | {"model_type": "mistral"}
    (folder / "config.json").write_text(json.dumps(raw))
    with pytest.raises(UnsupportedLIMeModel, match="model_type 'mistral'"):
        boot(folder)


@pytest.mark.parametrize("switch", ["use_attn_result", "use_split_qkv_input"])
def test_a_transformerlens_switch_the_lime_attention_lacks_raises_naming_it(tmp_path, switch):
    bridge = boot(save_lime(tmp_path / "lime", 2))
    setattr(bridge.cfg, switch, True)
    with pytest.raises(NotImplementedError, match=switch):
        logits(bridge)


@pytest.mark.parametrize("sources", ["average", "last_j", "first_j"])
def test_the_restricted_source_routers_boot_and_match_hf_lime(tmp_path, sources):
    # Paper v2 App. D (Table 7): the same adapter maps every kv router LIMeForCausalLM builds.
    model = tiny_lime_model(2, lime_sources=sources, lime_sources_j=1)
    folder = tmp_path / sources
    model.save_pretrained(folder)
    embedded_tokenizer().save_pretrained(folder)
    bridge = boot(folder)
    assert_close(logits(bridge), logits(hf_model(folder)), **TOL)
    assert "blocks.2.lime.hook_route" in bridge.hook_dict

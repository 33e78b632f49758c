"""save_pretrained / from_pretrained of LIMe models: exact round trip, strict keys and shapes."""

import json

import pytest
import torch
from lime_helpers import MODES, build, gpt2_cfg, llama_cfg, tokens
from safetensors.torch import load_file, save_file
from torch.testing import assert_close

from lime_lens import HookedLIMeTransformer, serialization
from lime_lens.serialization import WEIGHTS_FILE, atomic_write_text


@pytest.mark.parametrize("mode, lookup", MODES)
def test_save_and_load_round_trip_is_exact(tmp_path, mode, lookup):
    model = build(llama_cfg(lime_mode=mode, lime_lookup=lookup, lime_top_p=0.8))
    model.save_pretrained(tmp_path / "m", extra_json={"metrics.json": {"loss": 1.5}})
    loaded = HookedLIMeTransformer.from_pretrained(tmp_path / "m", device="cpu")
    assert type(loaded.cfg).__name__ == "LIMeConfig"
    assert (loaded.cfg.lime_mode, loaded.cfg.lime_lookup, loaded.cfg.lime_top_p) == (
        mode,
        lookup,
        0.8,
    )
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    toks = tokens()
    assert_close(loaded(toks), model(toks), atol=0, rtol=0)
    assert json.loads((tmp_path / "m" / "metrics.json").read_text()) == {"loss": 1.5}


def test_processed_model_round_trips_with_its_folded_norms(tmp_path):
    model = build(gpt2_cfg())
    model.process_weights_()
    model.save_pretrained(tmp_path / "m")
    loaded = HookedLIMeTransformer.from_pretrained(tmp_path / "m")
    assert loaded.cfg.normalization_type == "LNPre"
    assert_close(loaded(tokens()), model(tokens()), atol=0, rtol=0)


def test_sae_class_loads_the_same_folder_and_hub_options_are_refused(tmp_path):
    from lime_lens import HookedSAELIMeTransformer

    model = build(llama_cfg())
    model.save_pretrained(tmp_path / "m")
    loaded = HookedSAELIMeTransformer.from_pretrained(tmp_path / "m")
    assert isinstance(loaded, HookedSAELIMeTransformer)
    assert_close(loaded(tokens()), model(tokens()), atol=0, rtol=0)
    with pytest.raises(ValueError, match="fold_ln"):
        HookedLIMeTransformer.from_pretrained(tmp_path / "m", fold_ln=False)


def _rewrite_weights(folder, edit):
    state = load_file(str(folder / WEIGHTS_FILE))
    edit(state)
    save_file(state, str(folder / WEIGHTS_FILE))


def test_router_weights_of_the_wrong_shape_raise_naming_the_key(tmp_path):
    build(llama_cfg()).save_pretrained(tmp_path / "m")
    _rewrite_weights(tmp_path / "m", lambda s: s.update({"blocks.2.lime.route": torch.zeros(2, 6)}))
    with pytest.raises(ValueError, match=r"blocks\.2\.lime\.route"):
        HookedLIMeTransformer.from_pretrained(tmp_path / "m")


def test_missing_router_weights_raise_instead_of_silently_reinitialising(tmp_path):
    build(llama_cfg()).save_pretrained(tmp_path / "m")
    _rewrite_weights(tmp_path / "m", lambda s: s.pop("blocks.3.lime.route"))
    with pytest.raises(ValueError, match=r"blocks\.3\.lime\.route"):
        HookedLIMeTransformer.from_pretrained(tmp_path / "m")


def test_bad_lime_field_in_config_json_raises_at_load(tmp_path):
    build(llama_cfg()).save_pretrained(tmp_path / "m")
    cfg_file = tmp_path / "m" / "config.json"
    payload = json.loads(cfg_file.read_text())
    payload["config"]["lime_mode"] = "dense"
    cfg_file.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="lime_mode"):
        HookedLIMeTransformer.from_pretrained(tmp_path / "m")


def test_atomic_write_text_replaces_whole_files_and_a_failed_write_keeps_the_old_one(
    tmp_path, monkeypatch
):
    path = tmp_path / "sub" / "results.json"
    assert atomic_write_text(path, "old") == path and path.read_text() == "old"

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(serialization.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.json"]  # no temp file left

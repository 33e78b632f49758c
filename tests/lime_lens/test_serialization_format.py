"""lime_lens.serialization on vanilla models: the one safetensors + JSON format, atomic and strict.
(LIMe-specific round trips live in test_serialization.py.)"""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformer_lens import HookedTransformer, HookedTransformerConfig

from lime_lens.serialization import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    atomic_write_dir,
    config_to_json_dict,
    load_model,
    read_config,
    save_model,
)


def tiny(dtype=torch.float32) -> HookedTransformer:
    cfg = HookedTransformerConfig(
        n_layers=2,
        d_model=16,
        n_ctx=8,
        d_head=4,
        n_heads=4,
        n_key_value_heads=2,
        d_vocab=20,
        act_fn="silu",
        normalization_type="RMS",
        positional_embedding_type="rotary",
        gated_mlp=True,
        seed=1,
        dtype=dtype,
    )
    return HookedTransformer(cfg)


def test_vanilla_round_trip_is_exact_and_keeps_extra_json(tmp_path):
    model = tiny()
    save_model(model, tmp_path / "m", {"metrics.json": {"val_loss": 1.5}})
    loaded = load_model(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "metrics.json").read_text()) == {"val_loss": 1.5}
    assert loaded.cfg.to_dict() == model.cfg.to_dict()
    tokens = torch.randint(0, 20, (2, 8))
    torch.testing.assert_close(loaded(tokens), model(tokens), rtol=0, atol=0)


def test_dtype_survives_the_json_config(tmp_path):
    save_model(tiny(torch.bfloat16), tmp_path / "m")
    assert json.loads((tmp_path / "m" / CONFIG_FILE).read_text())["config"]["dtype"] == "bfloat16"
    assert read_config(tmp_path / "m", HookedTransformerConfig).dtype == torch.bfloat16
    assert config_to_json_dict(tiny().cfg)["dtype"] == "float32"


@pytest.mark.parametrize("change", ["drop", "add", "reshape"])
def test_strict_load_names_the_offending_key(tmp_path, change):
    save_model(tiny(), tmp_path / "m")
    weights = tmp_path / "m" / WEIGHTS_FILE
    state = load_file(str(weights))
    if change == "drop":
        del state["blocks.1.attn._W_K"]
    elif change == "add":
        state["blocks.1.lime.route"] = torch.zeros(2, 2, 2)
    else:
        state["blocks.1.attn._W_K"] = torch.zeros(1, 16, 4)
    save_file(state, str(weights))
    key = "blocks.1.lime.route" if change == "add" else "blocks.1.attn._W_K"
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        load_model(tmp_path / "m")


def test_unknown_config_field_and_missing_files_raise_naming_the_file(tmp_path):
    save_model(tiny(), tmp_path / "m")
    cfg_file = tmp_path / "m" / CONFIG_FILE
    payload = json.loads(cfg_file.read_text())
    payload["config"]["lime_mode"] = "kv"
    cfg_file.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="lime_mode"):
        load_model(tmp_path / "m")
    with pytest.raises(FileNotFoundError, match=CONFIG_FILE):
        load_model(tmp_path / "nothing")


def test_atomic_write_dir_keeps_the_old_folder_when_a_write_fails(tmp_path):
    target = tmp_path / "out"
    atomic_write_dir(target, lambda d: (d / "a.txt").write_text("old"))

    def failing(d):
        (d / "a.txt").write_text("new")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        atomic_write_dir(target, failing)
    assert (target / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left behind
    atomic_write_dir(target, lambda d: (d / "b.txt").write_text("new"))
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]  # replaced, not merged


def test_saved_folder_and_files_get_umask_permissions_not_private_temp_ones(tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        save_model(tiny(), tmp_path / "m")
    finally:
        os.umask(umask)
    modes = {
        p.name: stat.S_IMODE(p.stat().st_mode)
        for p in [tmp_path / "m", *(tmp_path / "m").iterdir()]
    }
    assert modes == {"m": 0o755, CONFIG_FILE: 0o644, WEIGHTS_FILE: 0o644}

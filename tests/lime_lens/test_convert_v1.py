"""Official v1 (residual-stream) checkpoints: the converter against a plain-torch v1 forward."""

import json
import math

import pytest
import torch
from safetensors.torch import save_file
from test_convert import HF_CONFIG, official_state_dict
from torch.testing import assert_close

from lime_lens.official.convert import config_from_official, convert_official_state_dict
from lime_lens.official.convert_v1 import (
    config_from_official_v1,
    convert_official_v1_state_dict,
    from_official_v1_checkpoint,
    load_official_v1_state_dict,
    official_v1_layout,
    official_v1_state_dict,
)
from lime_lens.routers.lookups import top_p_weights

HF_V1 = {**HF_CONFIG, "num_key_value_heads": 4}  # v1 has no GQA
IDS = torch.randint(0, 37, (2, 9), generator=torch.Generator().manual_seed(3))
LOOKUPS = ["static", "dynamic", "top_p"]


def v1_state_dict(lookup="static", cfg=HF_V1, seed=0, top_p=0.6):
    """Random weights with the documented v1 key names and shapes (LIMeForCausalLM @ 601cd30)."""
    gen = torch.Generator().manual_seed(seed)
    D, H, dh = cfg["hidden_size"], cfg["num_attention_heads"], cfg["head_dim"]
    F, V = cfg["intermediate_size"], cfg["vocab_size"]
    rnd = lambda *shape: 0.2 * torch.randn(*shape, generator=gen)  # noqa: E731
    sd = {"model.embed_tokens.weight": rnd(V, D), "model.norm.weight": 1 + rnd(D)}
    sd["lm_head.weight"] = rnd(V, D)
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        sd |= {
            p + "input_layernorm.weight": 1 + rnd(D),
            p + "post_attention_layernorm.weight": 1 + rnd(D),
            p + "self_attn.o_proj.weight": rnd(D, H * dh),
            p + "mlp.gate_proj.weight": rnd(F, D),
            p + "mlp.up_proj.weight": rnd(F, D),
            p + "mlp.down_proj.weight": rnd(D, F),
        }
        if not layer:  # a plain Llama layer (start_lime = 1)
            sd |= {p + f"self_attn.{w}_proj.weight": rnd(H * dh, D) for w in "qkv"}
            continue
        sd |= {p + f"self_attn.{w}_proj_lime.lime_kv_proj": rnd(1, H, D, dh) for w in "kv"}
        sd[p + "self_attn.q_proj_default.weight"] = rnd(H * dh, D)
        sd[p + "input_layernorm_lime.weight"] = 1 + rnd(D)
        r = p + "attention_router."
        if lookup == "dynamic":
            sd[r + "dynamic_proj.0.weight"] = torch.randn((layer + 1) * H, D, generator=gen)
        else:
            sd[r + "static_weights"] = torch.randn(H, layer + 1, generator=gen)
        if lookup == "top_p":  # the official buffer: pruned softmax, kept unnormalised
            logits = sd[r + "static_weights"]
            sd[r + "top_p_weights"] = logits.softmax(-1) * (top_p_weights(logits, top_p) > 0)
    return sd


def v1_forward(sd, cfg, ids):
    """Plain-torch v1 forward (paper v1 §3): heads mix the normed residual sources S = [emb, X_1..X_l]."""
    H, dh, eps = cfg["num_attention_heads"], cfg["head_dim"], cfg["rms_norm_eps"]
    B, T = ids.shape
    rms = lambda h, w: h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps) * w  # noqa: E731
    inv_freq = 1.0 / cfg["rope_theta"] ** (torch.arange(0, dh, 2).float() / dh)
    freqs = torch.outer(torch.arange(T).float(), inv_freq)
    cos, sin = torch.cat([freqs, freqs], -1).cos(), torch.cat([freqs, freqs], -1).sin()
    rope = lambda t: t * cos + torch.cat([-t[..., dh // 2 :], t[..., : dh // 2]], -1) * sin  # noqa: E731
    heads = lambda t: t.view(B, T, H, dh).transpose(1, 2)  # noqa: E731
    x, sources = sd["model.embed_tokens.weight"][ids], []
    for layer in range(cfg["num_hidden_layers"]):
        p, r = f"model.layers.{layer}.", f"model.layers.{layer}.attention_router."
        sources.append(x)  # the residual entering layer l
        h = rms(x, sd[p + "input_layernorm.weight"])
        if layer == 0:
            q, k, v = (heads(h @ sd[p + f"self_attn.{w}_proj.weight"].T) for w in "qkv")
        else:
            S = rms(torch.stack(sources), sd[p + "input_layernorm_lime.weight"])  # (l+1, B, T, D)
            if r + "dynamic_proj.0.weight" in sd:  # per token, from the normed own input
                w = (S[-1] @ sd[r + "dynamic_proj.0.weight"].T).view(B, T, H, layer + 1)
                m = torch.einsum("btrl,lbtd->brtd", w.softmax(-1), S)
            else:
                w = sd.get(r + "top_p_weights", sd[r + "static_weights"].softmax(-1))
                m = torch.einsum("rl,lbtd->brtd", w / w.sum(-1, keepdim=True), S)
            q = heads(h @ sd[p + "self_attn.q_proj_default.weight"].T)
            k = m @ sd[p + "self_attn.k_proj_lime.lime_kv_proj"]  # same m for K and V
            v = m @ sd[p + "self_attn.v_proj_lime.lime_kv_proj"]
        scores = rope(q) @ rope(k).transpose(-1, -2) / math.sqrt(dh)
        scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        o = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H * dh)
        x = x + o @ sd[p + "self_attn.o_proj.weight"].T
        h = rms(x, sd[p + "post_attention_layernorm.weight"])
        gate = torch.nn.functional.silu(h @ sd[p + "mlp.gate_proj.weight"].T)
        x = x + (gate * (h @ sd[p + "mlp.up_proj.weight"].T)) @ sd[p + "mlp.down_proj.weight"].T
    return rms(x, sd["model.norm.weight"]) @ sd["lm_head.weight"].T


def v1_model(lookup, sd=None, top_p=0.6):
    sd = v1_state_dict(lookup, top_p=top_p) if sd is None else sd
    cfg = config_from_official_v1(HF_V1, lookup, top_p if lookup == "top_p" else None, device="cpu")
    return load_official_v1_state_dict(sd, cfg), sd


@pytest.mark.parametrize("lookup", LOOKUPS)
def test_converted_v1_model_matches_the_v1_forward(lookup):
    model, sd = v1_model(lookup)
    with torch.no_grad():
        assert_close(model(IDS), v1_forward(sd, HF_V1, IDS), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("lookup", LOOKUPS)
def test_greedy_generation_without_cache_matches_the_v1_forward(lookup):
    model, sd = v1_model(lookup)
    ids = IDS[:1, :4]
    for _ in range(6):  # v1 has no working KV cache: every step reruns the whole prefix
        nxt = v1_forward(sd, HF_V1, ids)[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], dim=1)
    out = model.generate(
        IDS[:1, :4],
        max_new_tokens=6,
        do_sample=False,
        use_past_kv_cache=False,
        stop_at_eos=False,
        verbose=False,
    )
    assert torch.equal(out, ids)


@pytest.mark.parametrize("lookup", LOOKUPS)
def test_v1_mapping_round_trips_both_ways(lookup):
    model, sd = v1_model(lookup)
    params = {k: v.detach() for k, v in model.named_parameters()}
    back = official_v1_state_dict(params, model.cfg, tied=False)
    layout = official_v1_layout(model.cfg, tied=False)
    assert {k: tuple(v.shape) for k, v in back.items()} == layout
    for key, value in sd.items():
        assert_close(back[key], value, atol=1e-7, rtol=0, msg=key)
    again = convert_official_v1_state_dict(back, model.cfg)
    assert all(torch.equal(again[k], params[k]) for k in params)


def test_static_route_and_per_head_projections_land_where_the_v1_layout_says():
    _, sd = v1_model("static")
    params = convert_official_v1_state_dict(sd, config_from_official_v1(HF_V1, device="cpu"))
    assert torch.equal(
        params["blocks.2.lime.route"], sd["model.layers.2.attention_router.static_weights"]
    )
    official_k = sd["model.layers.1.self_attn.k_proj_lime.lime_kv_proj"]  # (1, H, D, d_h)
    assert torch.equal(params["blocks.1.attn.W_K"][3], official_k[0, 3])
    q0 = sd["model.layers.0.self_attn.k_proj.weight"]  # (H d_h, D), head-major rows
    assert torch.equal(params["blocks.0.attn.W_K"][1, :, 2], q0[1 * 8 + 2])


def test_tied_v1_checkpoint_folder_loads_with_top_p_from_the_argument(tmp_path):
    hf = HF_V1 | {"tie_word_embeddings": True}
    sd = v1_state_dict("top_p")
    del sd["lm_head.weight"]
    (tmp_path / "config.json").write_text(json.dumps(hf))
    save_file(sd, str(tmp_path / "model.safetensors"))
    model = from_official_v1_checkpoint(tmp_path, top_p=0.6, device="cpu")
    assert (model.cfg.lime_lookup, model.cfg.lime_top_p) == ("top_p", 0.6)
    tied = sd | {"lm_head.weight": sd["model.embed_tokens.weight"]}
    with torch.no_grad():
        assert_close(model(IDS), v1_forward(tied, hf, IDS), atol=1e-5, rtol=1e-5)


def test_dynamic_checkpoint_is_detected_from_its_keys(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(HF_V1))
    save_file(v1_state_dict("dynamic"), str(tmp_path / "model.safetensors"))
    assert from_official_v1_checkpoint(tmp_path, device="cpu").cfg.lime_lookup == "dynamic"
    with pytest.raises(ValueError, match=r"dynamic_proj\.0\.weight"):
        from_official_v1_checkpoint(tmp_path, top_p=0.9, device="cpu")


def test_stale_top_p_mask_raises_naming_the_buffer():
    sd = v1_state_dict("top_p")
    sd["model.layers.2.attention_router.top_p_weights"] = torch.ones(4, 3)
    with pytest.raises(ValueError, match=r"layers\.2\.attention_router\.top_p_weights"):
        v1_model("top_p", sd)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda sd: sd.pop("model.layers.1.input_layernorm_lime.weight"), "input_layernorm_lime"),
        (lambda sd: sd.update({"model.layers.1.extra.weight": torch.zeros(1)}), "extra"),
        (
            lambda sd: sd.update(
                {"model.layers.2.self_attn.v_proj_lime.lime_kv_proj": torch.zeros(1, 4, 8, 32)}
            ),
            r"layers\.2\.self_attn\.v_proj_lime\.lime_kv_proj has shape",
        ),
        (
            lambda sd: sd.update(
                {"model.layers.1.attention_router.static_weights": torch.zeros(4, 3)}
            ),
            r"layers\.1\.attention_router\.static_weights has shape",
        ),
    ],
)
def test_bad_v1_keys_raise_naming_them(edit, match):
    sd = v1_state_dict()
    edit(sd)
    with pytest.raises(ValueError, match=match):
        convert_official_v1_state_dict(sd, config_from_official_v1(HF_V1, device="cpu"))


def test_v2_checkpoint_on_the_v1_path_and_the_reverse_raise_naming_a_key():
    with pytest.raises(ValueError, match=r"kv_proj_weight is a key of the official v2"):
        convert_official_v1_state_dict(
            official_state_dict(), config_from_official_v1(HF_V1, device="cpu")
        )
    with pytest.raises(
        ValueError, match=r"attention_router\.static_weights is a key of the official v1"
    ):
        convert_official_state_dict(v1_state_dict(), config_from_official(HF_CONFIG, device="cpu"))


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("head_dim", None, "num_attention_heads"),
        ("num_key_value_heads", 2, "num_key_value_heads"),
        ("attention_bias", True, "attention_bias"),
        ("rope_scaling", {"type": "linear", "factor": 2.0}, "rope_scaling"),
    ],
)
def test_unrepresentable_v1_configs_raise_naming_the_field(field, value, match):
    hf = HF_V1 | {field: value}
    if field == "head_dim":
        hf |= {"hidden_size": 30}
    with pytest.raises(ValueError, match=match):
        config_from_official_v1(hf, device="cpu")


def test_top_p_checkpoint_without_mask_buffers_recomputes_them():
    sd = v1_state_dict("top_p")
    model, _ = v1_model("top_p", {k: v for k, v in sd.items() if "top_p_weights" not in k})
    with torch.no_grad():
        assert_close(model(IDS), v1_forward(sd, HF_V1, IDS), atol=1e-5, rtol=1e-5)

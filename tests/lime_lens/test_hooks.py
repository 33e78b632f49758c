"""LIMe hook points: names, shapes, the three hook APIs, and patches reaching every later layer."""

import pytest
import torch
from lime_helpers import build, gpt2_cfg, llama_cfg, tokens
from torch.testing import assert_close

B, P = 2, 12


def _lime_hooks(cache):
    return {k: tuple(v.shape) for k, v in cache.items() if ".lime." in k or k.endswith("_raw")}


def test_kv_mode_hook_names_and_shapes():
    model = build(llama_cfg(n_layers=3))  # n_kv = 2, d_head = 8
    _, cache = model.run_with_cache(tokens(B, P))
    expected = {}
    for layer in range(3):
        expected[f"blocks.{layer}.attn.hook_k_raw"] = (B, P, 2, 8)
        expected[f"blocks.{layer}.attn.hook_v_raw"] = (B, P, 2, 8)
        if layer:
            expected[f"blocks.{layer}.lime.hook_route"] = (B, 2, layer + 1, 2)
    assert _lime_hooks(cache) == expected
    assert (
        cache["blocks.2.attn.hook_k"].shape
        == cache["blocks.2.attn.hook_rot_k"].shape
        == (B, P, 2, 8)
    )


@pytest.mark.parametrize("lookup", ["static", "dynamic", "top_p"])
def test_residual_mode_hook_names_and_shapes(lookup):
    model = build(gpt2_cfg(lime_mode="residual", lime_lookup=lookup))  # n_kv = 4, 3 layers
    _, cache = model.run_with_cache(tokens(B, P))
    expected = {}
    for layer in (1, 2):
        n_src = layer + 1
        expected[f"blocks.{layer}.lime.ln.hook_scale"] = (B, P, n_src, 1)
        expected[f"blocks.{layer}.lime.ln.hook_normalized"] = (B, P, n_src, 32)
        route = (B, P, 4, n_src) if lookup == "dynamic" else (B, 4, n_src)
        expected[f"blocks.{layer}.lime.hook_route"] = route
        expected[f"blocks.{layer}.lime.hook_kv_in"] = (B, P, 4, 32)
    assert _lime_hooks(cache) == expected


@pytest.mark.parametrize(
    "cfg, name",
    [
        (llama_cfg(), "blocks.2.lime.hook_route"),
        (llama_cfg(), "blocks.1.attn.hook_k_raw"),
        (llama_cfg(), "blocks.0.attn.hook_v_raw"),
        (gpt2_cfg(lime_mode="residual"), "blocks.2.lime.hook_kv_in"),
        (gpt2_cfg(lime_mode="residual", lime_lookup="dynamic"), "blocks.1.lime.hook_route"),
    ],
)
def test_lime_hooks_work_in_add_hook_run_with_hooks_and_run_with_cache(cfg, name):
    model = build(cfg)
    toks = tokens(B, P)
    clean = model(toks)
    double = lambda t, hook: 2 * t  # noqa: E731
    patched = model.run_with_hooks(toks, fwd_hooks=[(name, double)])
    model.add_hook(name, double)  # goes through check_hooks_to_add
    try:
        assert_close(model(toks), patched)
    finally:
        model.reset_hooks()
    assert (patched - clean).abs().max() > 1e-4
    _, cache = model.run_with_cache(toks, names_filter=[name])
    assert list(cache.keys()) == [name]
    _, unbatched = model.run_with_cache(toks[:1], names_filter=[name], remove_batch_dim=True)
    assert unbatched[name].shape == cache[name].shape[1:]
    assert_close(unbatched[name], cache[name][0], atol=1e-5, rtol=1e-5)


def test_saelens_call_pattern_with_stop_at_layer_caches_the_route():
    model = build(llama_cfg())
    name = "blocks.2.lime.hook_route"
    _, cache = model.run_with_cache(
        tokens(B, P), names_filter=[name], stop_at_layer=3, prepend_bos=False
    )
    _, full = model.run_with_cache(tokens(B, P))
    assert_close(cache[name], full[name])


def test_patching_a_raw_route_reaches_every_later_layer_through_its_routing_weights():
    model = build(llama_cfg(n_layers=4))
    toks = tokens(B, P)
    delta = torch.randn(B, P, 2, 8)
    _, clean = model.run_with_cache(toks)
    with model.hooks(fwd_hooks=[("blocks.1.attn.hook_v_raw", lambda t, hook: t + delta)]):
        _, patched = model.run_with_cache(toks)
    assert_close(patched["blocks.0.attn.hook_v"], clean["blocks.0.attn.hook_v"])
    assert_close(patched["blocks.1.attn.hook_v_raw"], clean["blocks.1.attn.hook_v_raw"] + delta)
    # layer 1: V is linear in raw V, so the change is exactly R^1[:, 1, :] @ delta
    change = patched["blocks.1.attn.hook_v"] - clean["blocks.1.attn.hook_v"]
    expected = torch.einsum("hg,bpgd->bphd", model.blocks[1].lime.route.detach()[:, 1, :], delta)
    assert_close(change, expected, atol=1e-5, rtol=1e-5)
    for layer in (2, 3):  # later layers read the PATCHED raw V of layer 1 (and their own raws)
        raws = [patched[f"blocks.{src}.attn.hook_v_raw"] for src in range(layer + 1)]
        route = model.blocks[layer].lime.route.detach()
        mixed = torch.einsum("hsg,bpsgd->bphd", route, torch.stack(raws, 2))
        assert_close(patched[f"blocks.{layer}.attn.hook_v"], mixed, atol=1e-5, rtol=1e-5)
        assert (
            patched[f"blocks.{layer}.attn.hook_v"] - clean[f"blocks.{layer}.attn.hook_v"]
        ).abs().max() > 1e-3


def test_patching_a_source_residual_reaches_every_later_route():
    model = build(gpt2_cfg(lime_mode="residual"))
    toks = tokens(B, P)
    delta = torch.randn(B, P, 32)
    names = ["blocks.1.hook_resid_pre", "blocks.2.hook_resid_pre", "blocks.2.lime.hook_kv_in"]
    with model.hooks(fwd_hooks=[("blocks.1.hook_resid_pre", lambda t, hook: t + delta)]):
        _, patched = model.run_with_cache(
            toks, names_filter=names + ["hook_embed", "hook_pos_embed"]
        )
    _, clean = model.run_with_cache(toks)
    lime = model.blocks[2].lime
    sources = [
        clean["blocks.0.hook_resid_pre"],
        patched["blocks.1.hook_resid_pre"],
        patched["blocks.2.hook_resid_pre"],
    ]
    with torch.no_grad():
        expected = lime(sources)  # recomputed from the PATCHED source states
    assert_close(patched["blocks.2.lime.hook_kv_in"], expected, atol=1e-5, rtol=1e-5)
    assert (
        patched["blocks.2.lime.hook_kv_in"] - clean["blocks.2.lime.hook_kv_in"]
    ).abs().max() > 1e-3

"""The LIMe route hooks in TransformerBridge: names and shapes as HookedLIMeTransformer's,
run_with_cache, run_with_hooks, activation patching and generation (transformer-lens 3.9 and 4.3)."""

import pytest
import torch
from bridge_helpers import IDS, KV_HEADS, TOL, boot, hf_model, logits, save_lime
from torch.testing import assert_close
from transformers import LlamaConfig, LlamaForCausalLM

from lime_lens.routers.kv import route_kv_reference

pytestmark = pytest.mark.tl4
N_LAYERS, D_HEAD = 3, 16


@pytest.fixture(scope="module", params=list(KV_HEADS), ids=list(KV_HEADS))
def lime(request, tmp_path_factory):
    n_kv = KV_HEADS[request.param]
    folder = save_lime(tmp_path_factory.mktemp(request.param) / "lime", n_kv)
    return dict(folder=folder, bridge=boot(folder), hf=hf_model(folder), n_kv=n_kv)


def test_route_hooks_have_the_hooked_lime_names_and_shapes(lime):
    bridge, n_kv = lime["bridge"], lime["n_kv"]
    _, cache = bridge.run_with_cache(IDS)
    batch, pos = IDS.shape
    assert "blocks.0.lime.hook_route" not in bridge.hook_dict  # layer 0 reads only itself
    for layer in range(N_LAYERS):
        for name in ("hook_k_raw", "hook_v_raw", "hook_k", "hook_v"):
            assert cache[f"blocks.{layer}.attn.{name}"].shape == (batch, pos, n_kv, D_HEAD)
        if layer:
            route = cache[f"blocks.{layer}.lime.hook_route"]
            assert route.shape == (batch, n_kv, layer + 1, n_kv)


def test_the_routed_kv_hooks_hold_the_route_mixture_of_the_raw_kv_hooks(lime):
    # §4: X_h = sum_{l' <= l} sum_{h'} R^l[h, l', h'] raw_{l', h'}, read off the cache alone.
    _, cache = lime["bridge"].run_with_cache(IDS)
    for layer in range(1, N_LAYERS):
        route = cache[f"blocks.{layer}.lime.hook_route"]
        for kind in ("k", "v"):
            raws = [cache[f"blocks.{src}.attn.hook_{kind}_raw"] for src in range(layer + 1)]
            mixed = route_kv_reference(route, raws)
            assert_close(cache[f"blocks.{layer}.attn.hook_{kind}"], mixed, **TOL)


def test_patching_a_route_equals_editing_the_route_parameter_and_unhooks_after(lime):
    bridge, hf = lime["bridge"], lime["hf"]
    base = logits(bridge)
    edit = torch.randn(
        hf.model.layers[2].lime.route.shape, generator=torch.Generator().manual_seed(0)
    )

    def replace_route(route, hook):
        return edit.expand_as(route)

    patched = bridge.run_with_hooks(IDS, fwd_hooks=[("blocks.2.lime.hook_route", replace_route)])
    assert (patched - base).abs().max() > 1e-3  # the patch reaches the output
    reference = hf_model(lime["folder"])
    with torch.no_grad():
        reference.model.layers[2].lime.route.copy_(edit)
    assert_close(patched, logits(reference), **TOL)
    assert_close(logits(bridge), base, **TOL)  # run_with_hooks removed its hook


def test_one_hot_routes_on_each_layers_own_kv_reduce_the_bridge_to_llama(lime):
    # §4: R^l = identity on layer l's own heads is a vanilla Llama with the same weights.
    hf, n_kv = lime["hf"], lime["n_kv"]

    def own_layer(route, hook):
        one_hot = torch.zeros_like(route)
        one_hot[:, :, -1] = torch.eye(n_kv)
        return one_hot

    hooks = [(f"blocks.{layer}.lime.hook_route", own_layer) for layer in range(1, N_LAYERS)]
    one_hot = lime["bridge"].run_with_hooks(IDS, fwd_hooks=hooks)
    config = LlamaConfig(
        **{k: v for k, v in hf.config.to_dict().items() if not k.startswith("lime")}
    )
    llama = LlamaForCausalLM(config).eval()
    state = {k: v for k, v in hf.state_dict().items() if ".lime." not in k}
    llama.load_state_dict(state)
    assert_close(one_hot, logits(llama), **TOL)


def test_patching_the_last_residual_needs_the_routed_kv_too(lime):
    # Activation patching clean -> corrupt at the last layer: in LIMe its K/V also read the earlier
    # layers' raw K/V, so the residual alone leaves a gap that the routed K/V hooks close exactly.
    bridge, last = lime["bridge"], N_LAYERS - 1
    clean, corrupt = IDS[:1], IDS[1:]
    clean_logits, cache = bridge.run_with_cache(clean)

    def from_clean(name):
        return (name, lambda act, hook: cache[hook.name])

    resid = [from_clean(f"blocks.{last}.hook_resid_pre")]
    routed = [from_clean(f"blocks.{last}.attn.hook_{kind}") for kind in ("k", "v")]
    resid_only = bridge.run_with_hooks(corrupt, fwd_hooks=resid)
    both = bridge.run_with_hooks(corrupt, fwd_hooks=resid + routed)
    assert (resid_only - clean_logits).abs().max() > 1e-3
    assert_close(both, clean_logits, **TOL)


@pytest.mark.parametrize("kv_cache", [True, False], ids=["kv-cache", "no-cache"])
def test_greedy_generation_gives_the_hf_lime_tokens(lime, kv_cache):
    prompt, n = IDS[:1, :4], 10
    hf = lime["hf"]
    expected = hf.generate(prompt, max_new_tokens=n, do_sample=False, eos_token_id=None)
    tokens = lime["bridge"].generate(
        prompt,
        max_new_tokens=n,
        do_sample=False,
        stop_at_eos=False,
        use_past_kv_cache=kv_cache,
        verbose=False,
    )
    assert tokens.shape == (1, 4 + n)
    assert torch.equal(tokens, expected)


def test_run_with_cache_stops_at_a_layer_as_saelens_calls_it(lime):
    # SAELens caches one hook with stop_at_layer: the routed values of layer 1, layer 2's input.
    bridge = lime["bridge"]
    _, full = bridge.run_with_cache(IDS)
    out, cache = bridge.run_with_cache(IDS, names_filter=["blocks.1.attn.hook_v"], stop_at_layer=2)
    assert list(cache.keys()) == ["blocks.1.attn.hook_v"]
    assert_close(cache["blocks.1.attn.hook_v"], full["blocks.1.attn.hook_v"], **TOL)
    assert_close(out, full["blocks.2.hook_resid_pre"], **TOL)

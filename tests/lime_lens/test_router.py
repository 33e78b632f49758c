"""Routers against plain-torch formulas: kv mixing (v2), residual lookups (v1), init (App. A)."""

import math

import pytest
import torch
from lime_helpers import gpt2_cfg, llama_cfg
from torch.testing import assert_close

from lime_lens.router_registry import router_class
from lime_lens.routers import (
    KVStaticRouter,
    ResidualRouter,
    from_heads_major,
    route_kv,
    route_kv_reference,
    to_heads_major,
    top_p_weights,
)


def _raws(n_src, batch=3, pos=5, n_kv=2, d_head=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, pos, n_kv, d_head, generator=gen, requires_grad=True)
        for _ in range(n_src)
    ]


def test_heads_major_buffer_round_trips_and_orders_rows_like_the_paper_kv_buffer():
    k, v = _raws(n_src=2)
    buffer = to_heads_major(k, v)  # rows = heads; columns (kv batch pos d_head)
    assert buffer.shape == (2, 2 * 3 * 5 * 4)
    assert torch.equal(buffer[1].view(2, 3, 5, 4)[0], k[:, :, 1])
    k_back, v_back = from_heads_major(buffer, batch=3, pos=5)
    assert torch.equal(k_back, k) and torch.equal(v_back, v)


def test_fast_kv_mixing_equals_reference_in_values_and_gradients():
    ks, vs = _raws(n_src=3), _raws(n_src=3, seed=1)
    weights = torch.randn(2, 3, 2, requires_grad=True)
    fast_k, fast_v = from_heads_major(
        route_kv(weights, [to_heads_major(k, v) for k, v in zip(ks, vs, strict=True)]), 3, 5
    )
    route = weights.unsqueeze(0).expand(3, -1, -1, -1)
    ref_k, ref_v = route_kv_reference(route, ks), route_kv_reference(route, vs)
    assert_close(fast_k, ref_k)
    assert_close(fast_v, ref_v)
    inputs = ks + vs + [weights]
    grads_fast = torch.autograd.grad((fast_k.square() + fast_v.sin()).sum(), inputs)
    grads_ref = torch.autograd.grad((ref_k.square() + ref_v.sin()).sum(), inputs)
    for gf, gr in zip(grads_fast, grads_ref, strict=True):
        assert_close(gf, gr)


def test_kv_model_trains_under_bf16_autocast_like_fp32():
    # The trainer's CUDA default is bf16 autocast: K/V are bf16 there while routes stay fp32.
    from lime_lens import HookedLIMeTransformer

    torch.manual_seed(0)
    model = HookedLIMeTransformer(llama_cfg(lime_mode="kv"))
    tokens = torch.randint(0, model.cfg.d_vocab, (2, 7))
    reference = model(tokens, return_type="loss")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(tokens, return_type="loss")
    loss.backward()
    # bf16 keeps 8 mantissa bits; a loss of about ln(d_vocab) moves by well under 2%.
    assert_close(loss.float(), reference, rtol=2e-2, atol=0.0)
    assert all(p.grad is not None and p.grad.isfinite().all() for p in model.parameters())


def test_inference_path_concatenating_the_buffer_equals_the_training_path():
    buffers = [
        to_heads_major(k, v) for k, v in zip(_raws(n_src=4), _raws(n_src=4, seed=1), strict=True)
    ]
    route = torch.randn(2, 4, 2)
    with torch.no_grad():
        inference = route_kv(route, buffers)
    assert_close(inference, route_kv(route.requires_grad_(), buffers).detach())


def test_long_prompt_without_grad_walks_the_layers_and_equals_one_concatenated_gemm():
    from lime_lens.routers.kv import CAT_MAX_COLUMNS

    n = CAT_MAX_COLUMNS + 8  # past the concatenation limit: the per-layer addmm_ walk
    buffers = [torch.randn(2, n) for _ in range(3)]
    route = torch.randn(2, 3, 2)
    with torch.no_grad():
        walked = route_kv(route, buffers)
    assert_close(walked, route.reshape(2, -1) @ torch.cat(buffers))


def test_router_uses_per_prompt_routes_when_a_hook_makes_them_differ():
    cfg = llama_cfg()
    router = KVStaticRouter(cfg, layer=1)
    ks, vs = _raws(n_src=2), _raws(n_src=2, seed=1)
    buffers = [to_heads_major(k, v) for k, v in zip(ks, vs, strict=True)]
    per_prompt = torch.randn(3, 2, 2, 2)
    router.hook_route.add_hook(lambda route, hook: per_prompt)
    k, v = router(buffers, batch=3, pos=5)
    assert_close(k, route_kv_reference(per_prompt, ks))
    assert_close(v, route_kv_reference(per_prompt, vs))


def test_kv_mixing_matches_the_paper_sum_over_layers_and_heads():
    raws = _raws(n_src=2, batch=1)
    route = torch.randn(1, 2, 2, 2)
    out = route_kv_reference(route, raws)
    for h in range(2):
        expected = sum(route[0, h, s, g] * raws[s][0, :, g] for s in range(2) for g in range(2))
        assert_close(out[0, :, h], expected)


@pytest.mark.parametrize("layer", [1, 3])
def test_kv_router_init_is_identity_on_current_layer_and_bounded_uniform_elsewhere(layer):
    torch.manual_seed(0)
    cfg = llama_cfg(n_layers=4, n_heads=8, n_key_value_heads=4, d_head=4)
    route = KVStaticRouter(cfg, layer).route.detach()
    assert route.shape == (4, layer + 1, 4)
    assert torch.equal(route[:, -1, :], torch.eye(4))
    earlier = route[:, :-1, :]
    bound = math.sqrt(3 / ((layer + 1) * 4))
    assert earlier.abs().max() <= bound and earlier.abs().max() > 0.5 * bound
    assert earlier.std() > 0.3 * bound  # random, not a constant


def test_top_p_keeps_the_smallest_prefix_reaching_p_and_renormalises():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = probs.log()
    # masses above each source: 0, .5, .8, .95 -> at p=.8 keep the first two
    assert_close(top_p_weights(logits, 0.8), torch.tensor([0.625, 0.375, 0.0, 0.0]))
    assert_close(top_p_weights(logits, 0.81), torch.tensor([0.5, 0.3, 0.15, 0.0]) / 0.95)
    assert_close(top_p_weights(logits, 0.1), torch.tensor([1.0, 0.0, 0.0, 0.0]))


def test_top_p_of_one_is_the_plain_softmax():
    logits = torch.randn(3, 5)
    assert_close(top_p_weights(logits, 1.0), logits.softmax(-1))


@pytest.mark.parametrize("lookup", ["static", "dynamic", "top_p"])
def test_residual_mixture_is_weighted_sum_of_lime_normed_sources(lookup):
    cfg = gpt2_cfg(lime_mode="residual", lime_lookup=lookup, lime_top_p=0.6)
    router = router_class(cfg)(cfg, layer=2)
    assert isinstance(router, ResidualRouter)
    with torch.no_grad():
        router.ln.w.copy_(torch.rand(cfg.d_model) + 0.5)
        router.ln.b.copy_(torch.randn(cfg.d_model))
    sources = [torch.randn(2, 5, cfg.d_model) for _ in range(3)]
    out = router(sources)
    normed = [
        torch.nn.functional.layer_norm(s, (cfg.d_model,), router.ln.w, router.ln.b, eps=cfg.eps)
        for s in sources
    ]
    if lookup == "dynamic":  # per token, from the normalised own input
        w = (normed[-1] @ router.route_proj.weight.T).view(2, 5, 4, 3).softmax(-1)
        expected = sum(w[..., j, None] * normed[j][:, :, None] for j in range(3))
    else:
        w = router.route.softmax(-1) if lookup == "static" else top_p_weights(router.route, 0.6)
        expected = sum(w[None, None, :, j, None] * normed[j][:, :, None] for j in range(3))
    assert out.shape == (2, 5, cfg.n_kv_heads, cfg.d_model)
    assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_routers_refuse_layer_zero():
    with pytest.raises(ValueError, match="layer 0"):
        KVStaticRouter(llama_cfg(), 0)
    with pytest.raises(ValueError, match="layer 0"):
        ResidualRouter(llama_cfg(lime_mode="residual"), 0)

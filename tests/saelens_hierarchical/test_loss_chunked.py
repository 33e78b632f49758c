"""The chunked (GPU) path against the reference; CUDA tests run whenever a GPU is present."""

from __future__ import annotations

import pytest
import torch
from htopk_helpers import grads_of, loss_inputs, make_sae, step_input

from saelens_hierarchical import hierarchical_loss_reference
from saelens_hierarchical.loss import dispatch
from saelens_hierarchical.loss import triton as loss_triton
from saelens_hierarchical.loss.chunked import (
    DISABLE_ENV,
    gpu_path_enabled,
    hierarchical_loss_chunked,
)
from saelens_hierarchical.loss.dispatch import select_loss_fn

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.parametrize("chunk", [1, 3, 4, 16])
def test_chunked_passes_gradcheck_in_float64(chunk):
    sae_in, b_dec, acts, indices, W_dec = loss_inputs()
    upstream = torch.randn(7, 5, dtype=torch.float64)
    weights = [0.1, 0.2, 0.3, 0.4]

    def f(x, b, a, w):
        out = hierarchical_loss_chunked(x, b, a, indices, w, weights, chunk=chunk)
        return out.loss + (out.sae_out * upstream).sum()

    assert torch.autograd.gradcheck(f, (sae_in, b_dec, acts, W_dec))


@pytest.mark.parametrize("chunk", [1, 5, 16])
def test_chunked_loss_and_gradients_equal_reference(chunk):
    inputs = loss_inputs(batch=16, d_in=8, d_sae=20, k=11, dtype=torch.float32)
    weights = torch.rand(11).tolist()
    weights = [w / sum(weights) for w in weights]
    results = []
    for fn in (hierarchical_loss_reference, lambda *a: hierarchical_loss_chunked(*a, chunk=chunk)):
        out = fn(*inputs, weights)
        grads = torch.autograd.grad(out.loss, [t for t in inputs if t.requires_grad])
        results.append((out.loss, out.sae_out, grads))
    torch.testing.assert_close(results[1][0], results[0][0])
    torch.testing.assert_close(results[1][1], results[0][1])
    for chunked, ref in zip(results[1][2], results[0][2], strict=True):
        torch.testing.assert_close(chunked, ref)


@pytest.fixture
def fresh_dispatch():
    """The dispatch decides once per device; these tests change what it would decide."""
    dispatch.clear_cache()
    yield
    dispatch.clear_cache()


def test_auto_picks_chunked_only_on_cuda_and_the_env_var_disables_it(monkeypatch, fresh_dispatch):
    # Where Triton is installed "auto" prefers its kernels on CUDA (test_loss_triton.py).
    monkeypatch.setattr(loss_triton, "triton_importable", lambda: False)
    assert select_loss_fn("auto", torch.device("cpu")).__name__ == "hierarchical_loss_fused"
    assert select_loss_fn("auto", torch.device("cuda")).__name__ == "hierarchical_loss_chunked"
    monkeypatch.setenv(DISABLE_ENV, "1")
    dispatch.clear_cache()
    assert not gpu_path_enabled(torch.device("cuda"))
    assert select_loss_fn("auto", torch.device("cuda")).__name__ == "hierarchical_loss_fused"


def test_dispatch_is_decided_once_per_device_not_per_step(monkeypatch, fresh_dispatch):
    cuda0, cuda1 = torch.device("cuda", 0), torch.device("cuda", 1)
    first = select_loss_fn("auto", cuda0)
    searches = []
    monkeypatch.setattr(loss_triton, "triton_importable", lambda: searches.append(1) or False)
    monkeypatch.setenv(DISABLE_ENV, "1")
    assert all(select_loss_fn("auto", cuda0) is first for _ in range(3))  # cached: no search
    assert not searches
    assert select_loss_fn("auto", cuda1).__name__ == "hierarchical_loss_fused"  # another device


def test_chunked_rejects_wrong_weights_and_chunk_before_any_work():
    # Moved from the removed "compiled" path's tests (it ran these checks eagerly for chunked).
    inputs = loss_inputs(dtype=torch.float32)
    with pytest.raises(ValueError, match="weights needs one entry per prefix"):
        hierarchical_loss_chunked(*inputs, [0.5, 0.5])
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        hierarchical_loss_chunked(*inputs, [0.25] * 4, chunk=0)


def test_sae_with_chunked_loss_matches_reference_sae():
    x = torch.randn(24, 12)
    outs = {}
    for impl in ("reference", "chunked"):
        sae = make_sae(k=7, loss_impl=impl)
        out = sae.training_forward_pass(step_input(x))
        outs[impl] = (out.loss, grads_of(sae, out.loss))
    torch.testing.assert_close(outs["chunked"][0], outs["reference"][0])
    for name, ref in outs["reference"][1].items():
        torch.testing.assert_close(outs["chunked"][1][name], ref, rtol=1e-4, atol=1e-5)


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("impl", ["auto", "fused", "chunked"])
def test_gpu_paths_match_reference_on_cuda(impl):
    x = torch.randn(256, 12, device="cuda")
    outs = {}
    for name in ("reference", impl):
        sae = make_sae(d_sae=64, k=16, loss_impl=name).to("cuda")
        out = sae.training_forward_pass(step_input(x))
        outs[name] = (out.loss, grads_of(sae, out.loss))
    torch.testing.assert_close(outs[impl][0], outs["reference"][0])
    for name, ref in outs["reference"][1].items():
        torch.testing.assert_close(outs[impl][1][name], ref, rtol=1e-4, atol=1e-5)


@pytest.mark.cuda
@cuda
def test_chunked_under_bf16_autocast_on_cuda_is_finite_and_close_to_fp32():
    sae = make_sae(d_sae=64, k=16).to("cuda")
    x = torch.randn(256, 12, device="cuda")
    fp32 = sae.training_forward_pass(step_input(x)).loss
    with torch.autocast("cuda", dtype=torch.bfloat16):
        bf16 = sae.training_forward_pass(step_input(x)).loss
    torch.testing.assert_close(bf16.float(), fp32, rtol=3e-2, atol=1e-2)

"""The Triton kernels against the reference loss: natively on CUDA, else on CPU tensors under
Triton's interpreter (TRITON_INTERPRET=1, set per test below: the kernels are jitted when
``loss_triton`` first launches them and call only Triton builtins, so no import order matters)."""

from __future__ import annotations

import pytest
import torch
from htopk_helpers import grads_of, loss_and_grads, loss_inputs, make_sae, step_input

from saelens_hierarchical import hierarchical_loss_reference
from saelens_hierarchical.loss import dispatch
from saelens_hierarchical.loss import triton as lt
from saelens_hierarchical.loss.dispatch import select_loss_fn
from saelens_hierarchical.loss.triton import TritonUnavailableError, hierarchical_loss_triton
from saelens_hierarchical.loss.triton_configs import ALIGNED, CANDIDATES, UNALIGNED

pytest.importorskip("triton")
pytestmark = pytest.mark.triton
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture(autouse=True)
def interpreter_without_cuda(monkeypatch):
    if DEVICE == "cpu":
        monkeypatch.setenv("TRITON_INTERPRET", "1")


def on_device(inputs):
    """The loss inputs as leaf tensors on DEVICE (gradients kept where they were asked for)."""
    return tuple(t.detach().to(DEVICE).requires_grad_(t.requires_grad) for t in inputs)


# fp32 to tolerance: the kernels sum over d_in per tile and over K in walk order, the reference
# through cumsum and autograd; a sum of ~100 fp32 terms differs by a few 1e-6 relative.
FP32 = dict(rtol=1e-4, atol=1e-5)


def assert_all_close(got, want, **tol):
    torch.testing.assert_close(got[0], want[0], **tol)
    torch.testing.assert_close(got[1], want[1], **tol)
    for name, g, w in zip(("sae_in", "b_dec", "acts", "W_dec"), got[2], want[2], strict=True):
        torch.testing.assert_close(g, w, **tol, msg=lambda m, name=name: f"grad {name}: {m}")


def ties_and_dead(inputs, d_sae):
    """Equal activations within rows, every sample on the same latents (the W_dec gradient of
    one row sums over the whole batch), and latents no sample selects (zero gradient)."""
    sae_in, b_dec, acts, _, W_dec = inputs
    batch, k = acts.shape
    tied = torch.full_like(acts.detach(), 0.5).requires_grad_(True)
    indices = torch.arange(k).repeat(batch, 1) % max(d_sae - 2, 1)
    return sae_in, b_dec, tied, indices, W_dec


# (batch, d_in, d_sae, k, block_b, block_d): K not a power of two, D not a multiple of 64,
# odd B, K = 1, K = d_sae, several masked tiles in both directions.
SHAPES = [
    (7, 70, 30, 5, 4, 32),
    (5, 33, 12, 1, 2, 16),
    (9, 20, 6, 6, 4, 16),  # K == d_sae
    (3, 130, 50, 13, None, None),  # default tiles, capped by the shapes
]


@pytest.mark.parametrize("deterministic", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_triton_loss_recon_and_every_gradient_equal_reference_in_fp32(shape, deterministic):
    batch, d_in, d_sae, k, block_b, block_d = shape
    inputs = on_device(loss_inputs(batch=batch, d_in=d_in, d_sae=d_sae, k=k, dtype=torch.float32))
    weights = torch.rand(k, generator=torch.Generator().manual_seed(3)).tolist()
    upstream = torch.randn(batch, d_in, device=DEVICE)
    want = loss_and_grads(hierarchical_loss_reference, inputs, weights, upstream)
    got = loss_and_grads(
        hierarchical_loss_triton, inputs, weights, upstream,
        deterministic=deterministic, block_b=block_b, block_d=block_d,
    )  # fmt: skip
    assert_all_close(got, want, **FP32)


@pytest.mark.parametrize("deterministic", [False, True])
@pytest.mark.parametrize("config", CANDIDATES, ids=lambda c: c.name)
@pytest.mark.parametrize("shape", [(5, 20, 12, 3), (6, 32, 12, 3)], ids=["any", "d16"])
def test_every_launchable_config_equals_reference_in_fp32(config, shape, deterministic):
    batch, d_in, d_sae, k = shape
    inputs = on_device(loss_inputs(batch=batch, d_in=d_in, d_sae=d_sae, k=k, dtype=torch.float32))
    weights = torch.rand(k, generator=torch.Generator().manual_seed(5)).tolist()
    upstream = torch.randn(batch, d_in, device=DEVICE)
    want = loss_and_grads(hierarchical_loss_reference, inputs, weights, upstream)
    got = loss_and_grads(
        hierarchical_loss_triton, inputs, weights, upstream,
        deterministic=deterministic, config=config,
    )  # fmt: skip
    assert_all_close(got, want, **FP32)


def test_table_picks_the_vectorised_tile_only_for_16_divisible_d_in_and_aligned_pointers():
    x = torch.randn(8, 64)
    others = [torch.randn(64), torch.randn(8, 4), torch.zeros(8, 4, dtype=torch.long)]
    w = torch.randn(10, 64)
    assert lt.launch_config([x, *others, w], 4) == ALIGNED
    assert lt.launch_config([torch.randn(8, 70), *others, torch.randn(10, 70)], 4) == UNALIGNED
    offset = torch.randn(8 * 64 + 1)[1:].view(8, 64)  # contiguous, 4 bytes past alignment
    assert offset.data_ptr() % 16 != 0
    assert lt.launch_config([offset, *others, w], 4) == UNALIGNED


@pytest.mark.parametrize("deterministic", [False, True])
def test_triton_handles_ties_repeated_and_dead_latents_like_reference(deterministic):
    inputs = ties_and_dead(loss_inputs(batch=11, d_in=40, d_sae=9, k=4, dtype=torch.float32), 9)
    inputs = on_device(inputs)
    weights = [0.0, 0.5, 0.0, 0.5]  # zero-weight prefixes too
    upstream = torch.zeros(11, 40, device=DEVICE)
    want = loss_and_grads(hierarchical_loss_reference, inputs, weights, upstream)
    got = loss_and_grads(
        hierarchical_loss_triton, inputs, weights, upstream,
        deterministic=deterministic, block_b=4, block_d=16,
    )  # fmt: skip
    assert_all_close(got, want, **FP32)
    assert got[2][3][7:].abs().sum() == 0  # dead latents 7, 8: no gradient


def test_deterministic_W_dec_gradient_is_bitwise_repeatable_and_follows_torch_flag(monkeypatch):
    inputs = ties_and_dead(loss_inputs(batch=13, d_in=24, d_sae=8, k=3, dtype=torch.float32), 8)
    inputs = on_device(inputs)
    weights, upstream = [1 / 3] * 3, torch.randn(13, 24, device=DEVICE)
    first = loss_and_grads(hierarchical_loss_triton, inputs, weights, upstream, deterministic=True)
    second = loss_and_grads(hierarchical_loss_triton, inputs, weights, upstream, deterministic=True)
    assert torch.equal(first[2][3], second[2][3])
    calls = []
    original = lt._sorted_scatter
    monkeypatch.setattr(lt, "_sorted_scatter", lambda *a: calls.append(1) or original(*a))
    torch.use_deterministic_algorithms(True)
    try:
        loss_and_grads(hierarchical_loss_triton, inputs, weights, upstream)
    finally:
        torch.use_deterministic_algorithms(False)
    assert calls, "deterministic=None must follow torch.use_deterministic_algorithms"


# bf16/fp16 inputs, fp32 accumulation: the loss and sae_out are those of the reference on the
# same rounded values up to fp32 summation order; each gradient is then rounded once to the
# input dtype (relative error <= 2^-8 for bf16, 2^-11 for fp16), so the bound is that rounding.
LOW_PRECISION = {torch.bfloat16: 2**-8, torch.float16: 2**-11}


@pytest.mark.parametrize("dtype", list(LOW_PRECISION))
def test_triton_low_precision_inputs_are_within_one_rounding_of_fp32_reference(dtype):
    fp32 = on_device(loss_inputs(batch=7, d_in=70, d_sae=30, k=5, dtype=torch.float32))
    low = [t.detach().to(dtype).requires_grad_(t.requires_grad) for t in fp32[:3]]
    low = (*low, fp32[3], fp32[4].detach().to(dtype).requires_grad_(True))
    as_fp32 = [t.detach().float().requires_grad_(t.requires_grad) for t in low[:3]]
    as_fp32 = (*as_fp32, fp32[3], low[4].detach().float().requires_grad_(True))
    weights, upstream = [0.2] * 5, torch.randn(7, 70, device=DEVICE)
    want = loss_and_grads(hierarchical_loss_reference, as_fp32, weights, upstream)
    got = loss_and_grads(hierarchical_loss_triton, low, weights, upstream, block_b=4, block_d=32)
    assert got[0].dtype == got[1].dtype == torch.float32  # accumulation dtype, like "fused"
    assert [g.dtype for g in got[2]] == [dtype] * 4
    torch.testing.assert_close(got[0], want[0])
    torch.testing.assert_close(got[1], want[1])
    for g, w in zip(got[2], want[2], strict=True):
        torch.testing.assert_close(g.float(), w, rtol=LOW_PRECISION[dtype], atol=1e-5)


@pytest.mark.parametrize("rescale", [True, False])
@pytest.mark.parametrize("k", [1, 5, 40])  # 40 == d_sae
def test_sae_triton_path_matches_reference_on_loss_and_W_enc_b_enc_W_dec_b_dec_gradients(
    rescale, k
):
    x = torch.randn(9, 12, device=DEVICE) * 2
    outputs = {}
    for impl in ("reference", "triton"):
        sae = make_sae(k=k, rescale_acts_by_decoder_norm=rescale, loss_impl=impl).to(DEVICE)
        out = sae.training_forward_pass(step_input(x))
        outputs[impl] = (out, grads_of(sae, out.loss))
    (ref, ref_grads), (tri, tri_grads) = outputs["reference"], outputs["triton"]
    torch.testing.assert_close(tri.loss, ref.loss)
    torch.testing.assert_close(tri.sae_out, ref.sae_out)
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        assert ref_grads[name].abs().sum() > 0, name
        torch.testing.assert_close(tri_grads[name], ref_grads[name], rtol=1e-4, atol=1e-5)


def test_sae_triton_path_keeps_the_nan_error():
    sae = make_sae(loss_impl="triton").to(DEVICE)
    x = torch.randn(4, 12, device=DEVICE)
    x[1, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf in the input activations"):
        sae.training_forward_pass(step_input(x))


def test_unsupported_dtype_and_mixed_devices_raise_naming_the_tensor():
    sae_in, b_dec, acts, indices, W_dec = on_device(loss_inputs(dtype=torch.float32))
    with pytest.raises(ValueError, match="W_dec has dtype torch.float64"):
        hierarchical_loss_triton(sae_in, b_dec, acts, indices, W_dec.double(), [0.25] * 4)
    with pytest.raises(ValueError, match=f"b_dec is on meta but sae_in is on {DEVICE}"):
        hierarchical_loss_triton(sae_in, b_dec.to("meta"), acts, indices, W_dec, [0.25] * 4)
    with pytest.raises(ValueError, match="weights needs one entry per prefix"):
        hierarchical_loss_triton(sae_in, b_dec, acts, indices, W_dec, [0.5] * 2)
    with pytest.raises(ValueError, match="block_d must be a power of two"):
        hierarchical_loss_triton(sae_in, b_dec, acts, indices, W_dec, [0.25] * 4, block_d=24)


def test_float_indices_raise_naming_indices(unchecked):
    sae_in, b_dec, acts, indices, W_dec = loss_inputs(dtype=torch.float32)
    with pytest.raises(ValueError, match="indices must be int32 or int64"):
        hierarchical_loss_triton(sae_in, b_dec, acts, indices.float(), W_dec, [0.25] * 4)


def test_triton_on_cpu_without_interpreter_or_without_triton_raises_with_the_fallback(
    monkeypatch,
):
    inputs = loss_inputs(dtype=torch.float32)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(TritonUnavailableError, match='TRITON_INTERPRET=1.*loss_impl="auto"'):
        hierarchical_loss_triton(*inputs, [0.25] * 4)
    monkeypatch.setattr(lt, "triton_importable", lambda: False)
    with pytest.raises(TritonUnavailableError, match='pip install triton.*"chunked"'):
        hierarchical_loss_triton(*inputs, [0.25] * 4)


def test_auto_picks_triton_on_cuda_when_importable_else_chunked(monkeypatch):
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    dispatch.clear_cache()  # decided once per device: start from no decision
    assert select_loss_fn("auto", cuda).__name__ == "hierarchical_loss_triton"
    assert select_loss_fn("auto", cpu).__name__ == "hierarchical_loss_fused"  # interpreter or not
    monkeypatch.setattr(lt, "triton_importable", lambda: False)
    dispatch.clear_cache()
    assert select_loss_fn("auto", cuda).__name__ == "hierarchical_loss_chunked"
    assert select_loss_fn("triton", cpu).__name__ == "hierarchical_loss_triton"  # raises at call
    dispatch.clear_cache()

"""The fused prefix walk against the readable reference: value, every gradient, gradcheck."""

from __future__ import annotations

import pytest
import torch
from htopk_helpers import grads_of, loss_inputs, make_sae, step_input

from saelens_hierarchical import hierarchical_loss_fused, hierarchical_loss_reference
from saelens_hierarchical.loss.fused import prefix_squared_errors


def test_reference_loss_is_the_mean_over_prefixes_of_the_summed_squared_error():
    sae_in, b_dec, acts, indices, W_dec = loss_inputs(k=3)
    by_hand = []
    for j in range(1, 4):
        recon = b_dec + torch.einsum("bk,bkd->bd", acts[:, :j], W_dec[indices[:, :j]])
        by_hand.append((sae_in - recon).pow(2).sum(-1).mean())
    out = hierarchical_loss_reference(sae_in, b_dec, acts, indices, W_dec, [1 / 3] * 3)
    torch.testing.assert_close(out.loss, torch.stack(by_hand).mean())
    torch.testing.assert_close(
        out.sae_out, b_dec + torch.einsum("bk,bkd->bd", acts, W_dec[indices])
    )


@pytest.mark.parametrize("weights", [[0.25] * 4, [0.0, 0.5, 0.0, 0.5], [0.1, 0.2, 0.3, 0.4]])
def test_fused_passes_gradcheck_in_float64(weights):
    sae_in, b_dec, acts, indices, W_dec = loss_inputs()
    upstream = torch.randn(7, 5, dtype=torch.float64)

    def f(x, b, a, w):  # both outputs, so the sae_out gradient path is checked too
        out = hierarchical_loss_fused(x, b, a, indices, w, weights)
        return out.loss + (out.sae_out * upstream).sum()

    assert torch.autograd.gradcheck(f, (sae_in, b_dec, acts, W_dec))


@pytest.mark.parametrize("weights", [[0.25] * 4, [0.0, 0.0, 1.0, 0.0]])
def test_fused_loss_and_all_input_gradients_equal_reference(weights):
    inputs = loss_inputs(batch=16, d_in=8, d_sae=12, dtype=torch.float32)
    upstream = torch.randn(16, 8)
    results = []
    for fn in (hierarchical_loss_reference, hierarchical_loss_fused):
        out = fn(*inputs, weights)
        total = out.loss + (out.sae_out * upstream).sum()
        grads = torch.autograd.grad(total, [t for t in inputs if t.requires_grad])
        results.append((out.loss, out.sae_out, grads))
    torch.testing.assert_close(results[1][0], results[0][0])
    torch.testing.assert_close(results[1][1], results[0][1])
    for fused, ref in zip(results[1][2], results[0][2], strict=True):
        torch.testing.assert_close(fused, ref)


def test_fused_accumulates_repeated_latents_in_W_dec_gradient():
    # The same latent in several rows of one step: index_add must sum, not overwrite.
    sae_in, b_dec, acts, _, W_dec = loss_inputs(batch=6, k=2)
    indices = torch.tensor([[0, 1]] * 6)
    ref = torch.autograd.grad(
        hierarchical_loss_reference(sae_in, b_dec, acts, indices, W_dec, [0.5, 0.5]).loss, W_dec
    )
    fused = torch.autograd.grad(
        hierarchical_loss_fused(sae_in, b_dec, acts, indices, W_dec, [0.5, 0.5]).loss, W_dec
    )
    torch.testing.assert_close(fused, ref)


@pytest.mark.parametrize("rescale", [True, False])
@pytest.mark.parametrize("k", [1, 5, 40])  # 40 == d_sae
def test_sae_fused_and_reference_paths_agree_on_loss_and_every_parameter_gradient(rescale, k):
    x = torch.randn(24, 12) * 2
    outputs = {}
    for impl in ("reference", "fused"):
        sae = make_sae(k=k, rescale_acts_by_decoder_norm=rescale, loss_impl=impl)
        out = sae.training_forward_pass(step_input(x))
        outputs[impl] = (out, grads_of(sae, out.loss))
    (ref, ref_grads), (fused, fused_grads) = outputs["reference"], outputs["fused"]
    torch.testing.assert_close(fused.loss, ref.loss)
    torch.testing.assert_close(fused.sae_out, ref.sae_out)
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        assert ref_grads[name].abs().sum() > 0, name
        torch.testing.assert_close(fused_grads[name], ref_grads[name], rtol=1e-4, atol=1e-5)


def test_sae_paths_agree_with_tied_activations():
    # Duplicate latents (identical encoder and decoder columns) tie every top-k value.
    sae_by_impl = {impl: make_sae(d_sae=16, k=6, loss_impl=impl) for impl in ("reference", "fused")}
    for sae in sae_by_impl.values():
        with torch.no_grad():
            sae.W_enc[:, 8:] = sae.W_enc[:, :8]
            sae.W_dec[8:] = sae.W_dec[:8]
            sae.b_enc[8:] = sae.b_enc[:8]
    x = torch.randn(10, 12)
    outs = {impl: sae.training_forward_pass(step_input(x)) for impl, sae in sae_by_impl.items()}
    values = sae_by_impl["fused"].sorted_top_k(x).values
    assert (values[:, :-1] == values[:, 1:]).any()  # the ties are really there
    torch.testing.assert_close(outs["fused"].loss, outs["reference"].loss)
    g_ref = grads_of(sae_by_impl["reference"], outs["reference"].loss)
    g_fused = grads_of(sae_by_impl["fused"], outs["fused"].loss)
    for name in g_ref:
        torch.testing.assert_close(g_fused[name], g_ref[name], rtol=1e-4, atol=1e-5)


def test_fused_under_bf16_autocast_matches_reference_within_bf16_tolerance():
    x = torch.randn(32, 12)
    results = {}
    for impl in ("reference", "fused"):
        sae = make_sae(k=6, loss_impl=impl)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = sae.training_forward_pass(step_input(x))
        results[impl] = (out.loss, grads_of(sae, out.loss))
    assert torch.isfinite(results["fused"][0])
    torch.testing.assert_close(
        results["fused"][0].float(), results["reference"][0].float(), rtol=2e-2, atol=1e-2
    )
    for name, ref in results["reference"][1].items():
        torch.testing.assert_close(
            results["fused"][1][name].float(), ref.float(), rtol=5e-2, atol=2e-2
        )


def test_prefix_squared_errors_match_reference_prefixes():
    sae_in, b_dec, acts, indices, W_dec = loss_inputs(k=4)
    errors = prefix_squared_errors(sae_in, b_dec, acts, indices, W_dec, [1, 3])
    for j in (1, 3):
        recon = b_dec + torch.einsum("bk,bkd->bd", acts[:, :j], W_dec[indices[:, :j]])
        torch.testing.assert_close(errors[j], (sae_in - recon).pow(2).sum(-1))


def test_fused_rejects_weights_of_the_wrong_length():
    with pytest.raises(ValueError, match="weights"):
        hierarchical_loss_fused(*loss_inputs(k=4), [0.5, 0.5])


@pytest.mark.parametrize(
    ("impl", "flat"), [("fused", True), ("chunked", True), ("reference", False)]
)
def test_only_the_reference_keeps_a_batch_k_d_in_tensor_for_backward(impl, flat):
    # K * d_in >> d_sae, so a [batch, K, d_in] tensor dwarfs everything TopK itself keeps.
    batch, d_in, d_sae, k = 16, 64, 96, 48
    sae = make_sae(d_in=d_in, d_sae=d_sae, k=k, loss_impl=impl)
    saved: list[int] = []

    def pack(t):
        saved.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        sae.training_forward_pass(step_input(torch.randn(batch, d_in)))
    assert (max(saved) < batch * k * d_in // 2) == flat, max(saved)

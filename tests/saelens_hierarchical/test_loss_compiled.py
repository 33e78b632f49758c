"""The compiled chunked path against the reference (CPU: inductor's C++ backend).

Slow where compiled: the first call compiles forward and backward (about 20 s on one CPU thread). The
``unchecked`` fixture: dynamo cannot trace the runtime type checker (tests/conftest.py).
"""

from __future__ import annotations

import pytest
import torch
from htopk_helpers import grads_of, loss_and_grads, loss_inputs, make_sae, step_input

from saelens_hierarchical import hierarchical_loss_reference
from saelens_hierarchical.loss.compiled import hierarchical_loss_compiled
from saelens_hierarchical.loss.dispatch import select_loss_fn


@pytest.mark.slow
def test_compiled_loss_recon_and_every_gradient_equal_reference(unchecked):
    inputs = loss_inputs(batch=16, d_in=8, d_sae=20, k=7, dtype=torch.float32)
    weights = torch.rand(7, generator=torch.Generator().manual_seed(2)).tolist()
    upstream = torch.randn(16, 8)
    want = loss_and_grads(hierarchical_loss_reference, inputs, weights, upstream)
    got = loss_and_grads(hierarchical_loss_compiled, inputs, weights, upstream)
    torch.testing.assert_close(got[0], want[0])
    torch.testing.assert_close(got[1], want[1])
    for compiled, ref in zip(got[2], want[2], strict=True):
        torch.testing.assert_close(compiled, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_sae_compiled_path_matches_reference_on_loss_and_every_parameter_gradient(unchecked):
    assert select_loss_fn("compiled", torch.device("cpu")) is hierarchical_loss_compiled
    x = torch.randn(24, 12)
    outs = {}
    for impl in ("reference", "compiled"):
        sae = make_sae(k=7, loss_impl=impl)
        out = sae.training_forward_pass(step_input(x))
        outs[impl] = (out.loss, grads_of(sae, out.loss))
    torch.testing.assert_close(outs["compiled"][0], outs["reference"][0])
    for name, ref in outs["reference"][1].items():
        torch.testing.assert_close(outs["compiled"][1][name], ref, rtol=1e-4, atol=1e-5)


def test_compiled_rejects_wrong_weights_and_chunk_before_compiling():
    inputs = loss_inputs(dtype=torch.float32)
    with pytest.raises(ValueError, match="weights needs one entry per prefix"):
        hierarchical_loss_compiled(*inputs, [0.5, 0.5])
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        hierarchical_loss_compiled(*inputs, [0.25] * 4, chunk=0)

"""Safe first contact: ``loss_impl="auto"`` on CUDA probes the Triton kernels at the first step
and, if they fail to compile or launch, warns once and runs ``chunked``; ``"triton"`` raises.
The failure is simulated by a kernel launch patched to raise as a compiler error would; the
real kernels run natively on CUDA, else on CPU under Triton's interpreter."""

from __future__ import annotations

import warnings

import pytest
import torch
from htopk_helpers import loss_and_grads, loss_inputs

from saelens_hierarchical import hierarchical_loss_reference
from saelens_hierarchical.loss import dispatch
from saelens_hierarchical.loss import triton as lt

pytest.importorskip("triton")
pytestmark = pytest.mark.triton
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


class _Failing:
    """A kernel whose launch raises, as ``triton.compile`` does on a ptxas error."""

    def __getitem__(self, grid):
        raise RuntimeError("PTXASError: simulated compile failure")


@pytest.fixture
def interpreter(monkeypatch):
    if DEVICE.type == "cpu":
        monkeypatch.setenv("TRITON_INTERPRET", "1")
    dispatch.clear_cache()
    yield
    dispatch.clear_cache()


def _on_device(inputs):
    return tuple(t.detach().to(DEVICE).requires_grad_(t.requires_grad) for t in inputs)


def _patch_kernels(monkeypatch, which: int):
    real = lt._kernels

    def kernels():
        out = list(real())
        out[which] = _Failing()
        return tuple(out)

    monkeypatch.setattr(lt, "_kernels", kernels)


@pytest.mark.parametrize("which", [0, 1], ids=["forward", "backward"])
def test_auto_warns_once_naming_the_error_then_runs_chunked_like_the_reference(
    monkeypatch, interpreter, which
):
    _patch_kernels(monkeypatch, which)
    dispatch._RESOLVED[("auto", DEVICE.type, None)] = dispatch.guarded_triton(DEVICE)  # as on CUDA
    inputs = _on_device(loss_inputs(batch=6, d_in=8, d_sae=10, k=3, dtype=torch.float32))
    weights, upstream = [0.2, 0.3, 0.5], torch.randn(6, 8, device=DEVICE)
    with pytest.warns(RuntimeWarning, match=r'PTXASError: simulated.*"chunked"'):
        got = loss_and_grads(dispatch.select_loss_fn("auto", DEVICE), inputs, weights, upstream)
    want = loss_and_grads(hierarchical_loss_reference, inputs, weights, upstream)
    torch.testing.assert_close(got[0], want[0])
    for g, w in zip(got[2], want[2], strict=True):
        torch.testing.assert_close(g, w)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once: the next step is chunked, silently
        fn = dispatch.select_loss_fn("auto", DEVICE)
        assert fn is dispatch.hierarchical_loss_chunked
        fn(*inputs, weights)
    with pytest.raises(RuntimeError, match="simulated compile failure"):  # explicit: raises
        loss_and_grads(dispatch.select_loss_fn("triton", DEVICE), inputs, weights, upstream)


def test_auto_keeps_triton_after_a_clean_first_step(interpreter):
    dispatch._RESOLVED[("auto", DEVICE.type, None)] = dispatch.guarded_triton(DEVICE)
    inputs = _on_device(loss_inputs(batch=6, d_in=8, d_sae=10, k=3, dtype=torch.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = dispatch.select_loss_fn("auto", DEVICE)(*inputs, [0.2, 0.3, 0.5])
    want = hierarchical_loss_reference(*inputs, [0.2, 0.3, 0.5])
    torch.testing.assert_close(out.loss, want.loss)
    assert dispatch.select_loss_fn("auto", DEVICE) is dispatch.hierarchical_loss_triton


def test_auto_on_cuda_is_the_guarded_triton_path(interpreter):
    fn = dispatch.select_loss_fn("auto", torch.device("cuda"))
    assert fn.__name__ == "hierarchical_loss_triton"
    assert fn is not dispatch.hierarchical_loss_triton  # the first-step guard around it
    assert fn.__wrapped__ is dispatch.hierarchical_loss_triton

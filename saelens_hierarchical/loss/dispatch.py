"""Which loss path a training step runs: ``cfg.loss_impl`` resolved once per device.

Shapes: batch (B), k (K), d_in (D), d_sae (F). Every path has the signature and result of
``reference.hierarchical_loss_reference``.

The answer depends on the device, on whether Triton is installed and on
SAELENS_HIERARCHICAL_DISABLE_GPU_PATH, none of which changes during a run, so it is decided at
the first step on a device and cached per (impl, device type, device index): later steps cost
a dict lookup, not a package search and an environment read. ``clear_cache()`` forgets the
decisions (tests that change the environment call it).

First contact: ``"auto"`` on CUDA gets ``guarded_triton``, which at the first step compiles and
launches the Triton kernels (forward and backward, on detached copies of that step's inputs)
before using them. If that raises (a compiler error, too few registers or shared memory on
this GPU, a driver too old for Triton's PTX), it warns once, naming the error and the
fallback, and the device runs ``chunked`` from then on. ``loss_impl="triton"`` still raises.
A kernel that faults asynchronously (an illegal address) poisons the CUDA context, which no
fallback can recover; the ahead-of-time check (benchmarks/triton_aot.py) covers compiling.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import torch

from saelens_hierarchical.loss.chunked import gpu_path_enabled, hierarchical_loss_chunked
from saelens_hierarchical.loss.fused import hierarchical_loss_fused
from saelens_hierarchical.loss.reference import PrefixLoss, hierarchical_loss_reference
from saelens_hierarchical.loss.triton import hierarchical_loss_triton, triton_runnable

LossFn = Callable[..., PrefixLoss]
LOSS_FNS: dict[str, LossFn] = {
    "reference": hierarchical_loss_reference,
    "fused": hierarchical_loss_fused,
    "chunked": hierarchical_loss_chunked,
    "triton": hierarchical_loss_triton,
}
_RESOLVED: dict[tuple[str, str, int | None], LossFn] = {}


def clear_cache() -> None:
    """Forget every cached decision: the next step on each device resolves again."""
    _RESOLVED.clear()


def _probe_triton(*args: Any, **kwargs: Any) -> None:
    """Forward and backward of the Triton path on detached copies: every kernel this run's
    dtypes and configuration need is compiled and launched once."""
    sae_in, b_dec, acts, indices, W_dec, weights = args
    x, b, a, w = (t.detach().requires_grad_(True) for t in (sae_in, b_dec, acts, W_dec))
    with torch.enable_grad():
        out = hierarchical_loss_triton(x, b, a, indices, w, weights, **kwargs)
        (out.loss + out.sae_out.sum()).backward()
    if sae_in.device.type == "cuda":
        torch.cuda.synchronize(sae_in.device)  # launch errors surface here, not steps later


def guarded_triton(device: torch.device) -> LossFn:
    """The Triton path behind a first-step probe; on failure: one warning, then ``chunked``."""
    key = ("auto", device.type, device.index)

    @functools.wraps(hierarchical_loss_triton)
    def first_step(*args: Any, **kwargs: Any) -> PrefixLoss:
        try:
            _probe_triton(*args, **kwargs)
        except Exception as error:  # any failure to compile or launch: fall back, say so
            warnings.warn(
                f'loss_impl="auto": the Triton kernels failed on {device} '
                f'({type(error).__name__}: {error}); falling back to loss_impl="chunked" '
                'for this device. Set loss_impl="chunked" to silence this, or "triton" to raise.',
                RuntimeWarning,
                stacklevel=2,
            )
            _RESOLVED[key] = hierarchical_loss_chunked
            return hierarchical_loss_chunked(*args, **kwargs)
        _RESOLVED[key] = hierarchical_loss_triton
        return hierarchical_loss_triton(*args, **kwargs)

    return first_step


def _resolve(impl: str, device: torch.device) -> LossFn:
    if impl != "auto":
        return LOSS_FNS[impl]
    if not gpu_path_enabled(device):
        return hierarchical_loss_fused
    return guarded_triton(device) if triton_runnable(device) else hierarchical_loss_chunked


def select_loss_fn(impl: str, device: torch.device) -> LossFn:
    """The loss path for ``cfg.loss_impl``. ``"auto"`` on CUDA: the Triton kernels when Triton
    is installed (``guarded_triton``: chunked if they fail at the first step), else the chunked
    walk; the one-latent-at-a-time fused walk on other devices or
    with SAELENS_HIERARCHICAL_DISABLE_GPU_PATH=1. ``"triton"`` where it cannot run raises
    (at the call) saying how to fall back. Decided once per (impl, device), then cached."""
    key = (impl, device.type, device.index)
    fn = _RESOLVED.get(key)
    if fn is None:
        fn = _RESOLVED[key] = _resolve(impl, device)
    return fn

"""Which loss path a training step runs: ``cfg.loss_impl`` resolved once per device.

Shapes: batch (B), k (K), d_in (D), d_sae (F). Every path has the signature and result of
``reference.hierarchical_loss_reference``.

The answer depends on the device, on whether Triton is installed and on
SAELENS_HIERARCHICAL_DISABLE_GPU_PATH, none of which changes during a run, so it is decided at
the first step on a device and cached per (impl, device type, device index): later steps cost
a dict lookup, not a package search and an environment read. ``clear_cache()`` forgets the
decisions (tests that change the environment call it).
"""

from __future__ import annotations

from collections.abc import Callable

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


def _resolve(impl: str, device: torch.device) -> LossFn:
    if impl == "auto":
        if not gpu_path_enabled(device):
            impl = "fused"
        else:
            impl = "triton" if triton_runnable(device) else "chunked"
    return LOSS_FNS[impl]


def select_loss_fn(impl: str, device: torch.device) -> LossFn:
    """The loss path for ``cfg.loss_impl``. ``"auto"`` on CUDA: the Triton kernels when Triton
    is installed, else the chunked walk; the one-latent-at-a-time fused walk on other devices or
    with SAELENS_HIERARCHICAL_DISABLE_GPU_PATH=1. ``"triton"`` where it cannot run raises
    (at the call) saying how to fall back. Decided once per (impl, device), then cached."""
    key = (impl, device.type, device.index)
    fn = _RESOLVED.get(key)
    if fn is None:
        fn = _RESOLVED[key] = _resolve(impl, device)
    return fn

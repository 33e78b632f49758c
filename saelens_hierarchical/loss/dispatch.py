"""Which loss path a training step runs: ``cfg.loss_impl`` resolved for a device.

Shapes: batch (B), k (K), d_in (D), d_sae (F). Every path has the signature and result of
``reference.hierarchical_loss_reference``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from saelens_hierarchical.loss.chunked import gpu_path_enabled, hierarchical_loss_chunked
from saelens_hierarchical.loss.compiled import hierarchical_loss_compiled
from saelens_hierarchical.loss.fused import hierarchical_loss_fused
from saelens_hierarchical.loss.reference import PrefixLoss, hierarchical_loss_reference
from saelens_hierarchical.loss.triton import hierarchical_loss_triton, triton_runnable

LossFn = Callable[..., PrefixLoss]
LOSS_FNS: dict[str, LossFn] = {
    "reference": hierarchical_loss_reference,
    "fused": hierarchical_loss_fused,
    "chunked": hierarchical_loss_chunked,
    "compiled": hierarchical_loss_compiled,
    "triton": hierarchical_loss_triton,
}


def select_loss_fn(impl: str, device: torch.device) -> LossFn:
    """The loss path for ``cfg.loss_impl``. ``"auto"`` on CUDA: the Triton kernels when Triton
    imports, else the chunked walk; the one-latent-at-a-time fused walk on other devices or
    with SAELENS_HIERARCHICAL_DISABLE_GPU_PATH=1. ``"triton"`` where it cannot run raises
    (at the call) saying how to fall back."""
    if impl == "auto":
        if not gpu_path_enabled(device):
            impl = "fused"
        else:
            impl = "triton" if triton_runnable(device) else "chunked"
    return LOSS_FNS[impl]

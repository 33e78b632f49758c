"""The HierarchicalTopK prefix loss (Balagansky et al., arXiv 2505.24473), one path per module.

- ``reference``: the paper's formula, materialising every prefix ([B, K, D]); the definition.
- ``fused``: a memory-flat walk over the K sorted latents (CPU default).
- ``chunked``: the same walk in chunks of C latents (CUDA fallback).
- ``triton`` / ``triton_kernels``: the fused walk as Triton kernels (CUDA default).
- ``common``: the argument check, accumulation dtype and autocast-off region they share.
- ``dispatch``: which path ``cfg.loss_impl`` runs on a device, decided once per device.
"""

from saelens_hierarchical.loss.fused import hierarchical_loss_fused
from saelens_hierarchical.loss.reference import PrefixLoss, hierarchical_loss_reference

__all__ = ["PrefixLoss", "hierarchical_loss_fused", "hierarchical_loss_reference"]

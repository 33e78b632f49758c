"""The chunked HierarchicalTopK loss under ``torch.compile``: for GPUs without Triton kernels
of our own, or CPUs (inductor emits C++ there).

Shapes: batch (B), k (K), d_in (D), d_sae (F). Same signature and result as
``loss_reference.hierarchical_loss_reference``. ``loss_chunked`` walks K/C chunks of [B, C, D]
tensors, each a handful of small kernels; compiled with ``fullgraph=True``, inductor fuses the
gather, cumsum, squared error and suffix-sum of a chunk (forward and the autograd.Function's
backward alike). Memory stays O(B*C*D + B*K). The first call per shape pays the compilation
(tens of seconds on CPU); the compiled graph specialises on K, ``chunk`` and ``weights``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import torch
from jaxtyping import Float, Int

from saelens_hierarchical.loss.chunked import (
    DEFAULT_CHUNK,
    check_chunked_args,
    hierarchical_loss_chunked,
)
from saelens_hierarchical.loss.reference import PrefixLoss


@cache
def _compiled_chunked() -> Callable[..., PrefixLoss]:
    """One compiled wrapper per process (dynamo keeps its own cache per shape and weights)."""
    return torch.compile(hierarchical_loss_chunked, fullgraph=True)


def hierarchical_loss_compiled(
    sae_in: Float[torch.Tensor, "batch d_in"],
    b_dec: Float[torch.Tensor, " d_in"],
    acts: Float[torch.Tensor, "batch k"],
    indices: Int[torch.Tensor, "batch k"],
    W_dec: Float[torch.Tensor, "d_sae d_in"],
    weights: list[float],
    chunk: int = DEFAULT_CHUNK,
) -> PrefixLoss:
    """``hierarchical_loss_chunked`` compiled: same value and gradients as the reference."""
    check_chunked_args(weights, acts.shape[1], chunk)  # eagerly: a clear error, not dynamo's
    return PrefixLoss(*_compiled_chunked()(sae_in, b_dec, acts, indices, W_dec, weights, chunk))

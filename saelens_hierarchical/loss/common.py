"""What every HierarchicalTopK loss path shares: the argument check, the accumulation dtype and
the autocast-off region.

Shapes: batch (B), k (K), d_in (D), d_sae (F). Every path (``reference``, ``fused``, ``chunked``,
``triton``) takes ``(sae_in, b_dec, acts, indices, W_dec, weights)`` and returns ``PrefixLoss``.
The fast paths accumulate the prefix walk in at least fp32 (a sum of K squared residuals in bf16
loses the small late-prefix terms) and run outside autocast, which would otherwise re-cast their
matmul-free elementwise work to bf16 under a training loop's ``torch.autocast``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import reduce

import torch
from jaxtyping import Float


def check_prefix_weights(weights: list[float], k: int) -> None:
    """ValueError unless ``weights`` has one entry per prefix j = 1..k (checked before any
    work, by every path)."""
    if len(weights) != k:
        raise ValueError(f"weights needs one entry per prefix ({k}); got {len(weights)}")


def accumulation_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """The promoted dtype of ``tensors``, at least fp32: the walk's accumulation dtype, also
    for bf16 inputs and under bf16 autocast."""
    return reduce(torch.promote_types, (t.dtype for t in tensors), torch.float32)


def promote(
    sae_in: Float[torch.Tensor, "batch d_in"],
    b_dec: Float[torch.Tensor, " d_in"],
    acts: Float[torch.Tensor, "batch k"],
    W_dec: Float[torch.Tensor, "d_sae d_in"],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The four float inputs cast to their ``accumulation_dtype`` (no copy where equal)."""
    dtype = accumulation_dtype(sae_in, b_dec, acts, W_dec)
    return sae_in.to(dtype), b_dec.to(dtype), acts.to(dtype), W_dec.to(dtype)


@contextmanager
def autocast_off(device: torch.device) -> Iterator[None]:
    """Autocast disabled for ``device``'s type: the paths choose their own dtypes."""
    with torch.autocast(device_type=device.type, enabled=False):
        yield

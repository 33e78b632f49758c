"""Chunked HierarchicalTopK loss: the fused walk, ``chunk`` latents per step (the GPU path).

Shapes: batch (B), k (K), chunk (C), d_in (D), d_sae (F). Same signature and result as
``loss_reference.hierarchical_loss_reference``.

``loss_fused`` walks one latent at a time: about ten small kernels per latent, which on a
GPU is launch-bound. Here each step handles C latents with [B, C, D] tensors (a cumsum
inside the chunk, carried residual between chunks), so a GPU runs K/C steps of large
kernels. Memory is O(B*C*D + B*K): flat in K for a fixed C. Backward walks the chunks in
reverse with the same suffix sum G_t as ``loss_fused`` (see its docstring), computed inside
a chunk by a reversed cumsum.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from jaxtyping import Float, Int

from saelens_hierarchical.loss.common import autocast_off, check_prefix_weights, promote
from saelens_hierarchical.loss.reference import PrefixLoss

DEFAULT_CHUNK = 4
DISABLE_ENV = "SAELENS_HIERARCHICAL_DISABLE_GPU_PATH"


def gpu_path_enabled(device: torch.device) -> bool:
    """Whether ``loss_impl="auto"`` picks this path: CUDA, unless the env var is set to 1."""
    return device.type == "cuda" and os.environ.get(DISABLE_ENV, "0") != "1"


class _ChunkedHierarchicalLoss(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        sae_in: torch.Tensor,
        b_dec: torch.Tensor,
        acts: torch.Tensor,
        indices: torch.Tensor,
        W_dec: torch.Tensor,
        weights: torch.Tensor,
        chunk: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        residual = sae_in - b_dec  # r_0
        loss = sae_in.new_zeros(())
        for s in range(0, acts.shape[1], chunk):
            e = min(s + chunk, acts.shape[1])
            contrib = acts[:, s:e, None] * W_dec[indices[:, s:e]]  # [batch, chunk, d_in]
            prefix_residuals = residual[:, None, :] - contrib.cumsum_(1)  # r_{s+1..e}
            loss = loss + (prefix_residuals.pow(2).sum((0, 2)) * weights[s:e]).sum()
            residual = prefix_residuals[:, -1].contiguous()
        ctx.save_for_backward(acts, indices, W_dec, weights, residual)
        ctx.chunk, ctx.batch = chunk, sae_in.shape[0]
        return loss / ctx.batch, sae_in - residual

    @staticmethod
    def backward(ctx: Any, grad_loss: torch.Tensor, grad_out: torch.Tensor):  # type: ignore[override]
        acts, indices, W_dec, weights, residual = ctx.saved_tensors
        coef = grad_loss * (-2.0 / ctx.batch)
        suffix = grad_out.clone()  # G after the last chunk: the sae_out gradient
        grad_acts = torch.empty_like(acts)
        grad_W_dec = torch.zeros_like(W_dec)
        k = acts.shape[1]
        for s in reversed(range(0, k, ctx.chunk)):
            e = min(s + ctx.chunk, k)
            rows = W_dec[indices[:, s:e]]  # [batch, chunk, d_in]
            contrib = acts[:, s:e, None] * rows
            start = residual + contrib.sum(1)  # r_s, rebuilt from r_e
            prefix_grads = (start[:, None, :] - contrib.cumsum(1)) * (coef * weights[s:e])[:, None]
            G = suffix[:, None, :] + prefix_grads.flip(1).cumsum(1).flip(1)  # G_t, t in s+1..e
            grad_acts[:, s:e] = (rows * G).sum(-1)
            grad_W_dec.index_add_(
                0, indices[:, s:e].reshape(-1), (acts[:, s:e, None] * G).flatten(0, 1)
            )
            suffix, residual = G[:, 0], start
        grad_sae_in = grad_out - suffix if ctx.needs_input_grad[0] else None
        grad_b_dec = suffix.sum(0) if ctx.needs_input_grad[1] else None
        return grad_sae_in, grad_b_dec, grad_acts, None, grad_W_dec, None, None


def check_chunked_args(weights: list[float], k: int, chunk: int) -> None:
    """ValueError unless there is one weight per prefix and ``chunk`` >= 1."""
    check_prefix_weights(weights, k)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1; got {chunk}")


def hierarchical_loss_chunked(
    sae_in: Float[torch.Tensor, "batch d_in"],
    b_dec: Float[torch.Tensor, " d_in"],
    acts: Float[torch.Tensor, "batch k"],
    indices: Int[torch.Tensor, "batch k"],
    W_dec: Float[torch.Tensor, "d_sae d_in"],
    weights: list[float],
    chunk: int = DEFAULT_CHUNK,
) -> PrefixLoss:
    """Same value and gradients as ``hierarchical_loss_reference``, memory O(B*chunk*D + B*K)."""
    check_chunked_args(weights, acts.shape[1], chunk)
    x, b, a, w = promote(sae_in, b_dec, acts, W_dec)
    weight_tensor = torch.tensor(weights, dtype=x.dtype, device=x.device)
    with autocast_off(sae_in.device):
        loss, sae_out = _ChunkedHierarchicalLoss.apply(x, b, a, indices, w, weight_tensor, chunk)
    return PrefixLoss(loss, sae_out)

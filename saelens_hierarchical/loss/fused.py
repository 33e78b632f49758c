"""Memory-flat HierarchicalTopK loss: walk the K sorted latents, never building [B, K, D].

Shapes: batch (B), k (K), d_in (D), d_sae (F). Same signature and result as
``loss_reference.hierarchical_loss_reference``.

Forward: r_0 = x - b_dec; for t = 1..K, gather one decoder row per sample (d_t, [B, D]),
r_t = r_{t-1} - a_t d_t and L += w_t ||r_t||^2 / B.

Backward, walking t = K..1 with the residual rebuilt by r_{t-1} = r_t + a_t d_t and the
suffix sum G_t = dL/dx_hat_t + ... + dL/dx_hat_K = -(2/B) sum_{j>=t} w_j r_j (plus the
upstream gradient of sae_out = x_hat_K):
    dL/da_t = <d_t, G_t>,   dL/dW_dec[idx_t] += a_t G_t,   dL/db_dec = sum_b G_1.
Extra memory O(B*D + B*K), compute O(B*K*D) like a sparse TopK decode; the decoder-norm
rescaling and the encoder get their gradients through ordinary autograd around this.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from jaxtyping import Float, Int

from saelens_hierarchical.loss.common import (
    autocast_off,
    check_prefix_weights,
    promote,
)
from saelens_hierarchical.loss.reference import PrefixLoss


def _walk(
    residual: Float[torch.Tensor, "batch d_in"],
    acts_t: Float[torch.Tensor, "k batch"],
    idx_t: Int[torch.Tensor, "k batch"],
    W_dec: Float[torch.Tensor, "d_sae d_in"],
) -> Iterator[int]:
    """r_t = r_{t-1} - a_t d_t in place on ``residual`` for t in order, yielding t after each."""
    row = residual.new_empty(residual.shape)  # one reused [batch, d_in] gather buffer
    for t in range(acts_t.shape[0]):
        torch.index_select(W_dec, 0, idx_t[t], out=row)
        residual.addcmul_(row, acts_t[t, :, None], value=-1.0)
        yield t


def _squared_norm(x: torch.Tensor) -> torch.Tensor:
    flat = x.reshape(-1)
    return torch.dot(flat, flat)  # no [batch, d_in] temporary, unlike x.pow(2).sum()


class _HierarchicalLoss(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        sae_in: torch.Tensor,
        b_dec: torch.Tensor,
        acts: torch.Tensor,
        indices: torch.Tensor,
        W_dec: torch.Tensor,
        weights: tuple[float, ...],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch = sae_in.shape[0]
        acts_t, idx_t = acts.t().contiguous(), indices.t().contiguous()
        residual = sae_in - b_dec
        loss = sae_in.new_zeros(())
        for t in _walk(residual, acts_t, idx_t, W_dec):
            if weights[t] != 0.0:
                loss += weights[t] * _squared_norm(residual)
        ctx.save_for_backward(acts_t, idx_t, W_dec, residual)
        ctx.weights, ctx.batch = weights, batch
        return loss / batch, sae_in - residual

    @staticmethod
    def backward(ctx: Any, grad_loss: torch.Tensor, grad_out: torch.Tensor):  # type: ignore[override]
        acts_t, idx_t, W_dec, residual_k = ctx.saved_tensors
        coef = grad_loss * (-2.0 / ctx.batch)  # a 0-d tensor: no host sync, compile-safe
        residual = residual_k.clone()
        suffix = grad_out.clone()  # G_{K+1}: the upstream gradient of sae_out = x_hat_K
        upstream = grad_out if ctx.needs_input_grad[0] else None
        grad_acts_t = torch.empty_like(acts_t)
        grad_W_dec = torch.zeros_like(W_dec)
        row, scaled = torch.empty_like(residual), torch.empty_like(residual)
        # Walk t = K..1: G_t gains prefix t's gradient, then r_t becomes r_{t-1}.
        for t in range(acts_t.shape[0] - 1, -1, -1):
            if ctx.weights[t] != 0.0:
                suffix.addcmul_(residual, coef * ctx.weights[t])
            torch.index_select(W_dec, 0, idx_t[t], out=row)
            residual.addcmul_(row, acts_t[t, :, None])
            grad_acts_t[t] = row.mul_(suffix).sum(-1)
            torch.mul(suffix, acts_t[t, :, None], out=scaled)
            grad_W_dec.index_add_(0, idx_t[t], scaled)
        grad_sae_in = upstream - suffix if upstream is not None else None
        grad_b_dec = suffix.sum(0) if ctx.needs_input_grad[1] else None
        return grad_sae_in, grad_b_dec, grad_acts_t.t(), None, grad_W_dec, None


def hierarchical_loss_fused(
    sae_in: Float[torch.Tensor, "batch d_in"],
    b_dec: Float[torch.Tensor, " d_in"],
    acts: Float[torch.Tensor, "batch k"],
    indices: Int[torch.Tensor, "batch k"],
    W_dec: Float[torch.Tensor, "d_sae d_in"],
    weights: list[float],
) -> PrefixLoss:
    """Same value and gradients as ``hierarchical_loss_reference``, memory O(B*D + B*K)."""
    check_prefix_weights(weights, acts.shape[1])
    x, b, a, w = promote(sae_in, b_dec, acts, W_dec)
    with autocast_off(sae_in.device):
        loss, sae_out = _HierarchicalLoss.apply(x, b, a, indices, w, tuple(map(float, weights)))
    return PrefixLoss(loss, sae_out)


@torch.no_grad()
def prefix_squared_errors(
    sae_in: Float[torch.Tensor, "batch d_in"],
    b_dec: Float[torch.Tensor, " d_in"],
    acts: Float[torch.Tensor, "batch k"],
    indices: Int[torch.Tensor, "batch k"],
    W_dec: Float[torch.Tensor, "d_sae d_in"],
    budgets: list[int],
) -> dict[int, Float[torch.Tensor, " batch"]]:
    """||x - x_hat_j||^2 per sample for each j in ``budgets`` (for logging; no gradients)."""
    x, b, a, w = promote(sae_in, b_dec, acts, W_dec)
    acts_t = a.t().contiguous()[: max(budgets)]
    idx_t = indices.t().contiguous()[: max(budgets)]
    residual = x - b
    wanted = set(budgets)
    return {
        t + 1: residual.pow(2).sum(-1) for t in _walk(residual, acts_t, idx_t, w) if t + 1 in wanted
    }

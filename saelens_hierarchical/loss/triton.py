"""Triton HierarchicalTopK loss: the prefix walk as fused kernels (``loss_triton_kernels``).

Shapes: batch (B), k (K), d_in (D), d_sae (F). Same signature and result as
``loss_reference.hierarchical_loss_reference``; the maths is ``loss_fused``'s walk
(Balagansky et al., arXiv 2505.24473, section 1), tiled over [BLOCK_B, BLOCK_D]:

* forward: each program keeps r = x - b_dec for its tile in registers and, for t = 1..K,
  gathers one W_dec row segment per sample, r -= a_t d_t and adds w_t ||r||^2 to a per-program
  partial sum. It writes r_K (fp32, for backward), x_hat_K and the partial sums; the loss is
  their sum / B in torch (fixed order).
* backward: walks t = K..1 rebuilding r_{t-1} = r_t + a_t d_t with the suffix sum
  G_t = dL/dx_hat_K - (2/B) sum_{j>=t} w_j r_j; dL/da_t = <d_t, G_t> is written per D tile and
  summed in torch, dL/dW_dec[idx_t] += a_t G_t, dL/db_dec = sum_b G_1, dL/dx = dL/dx_hat_K - G_1.

Any B, K, D and F (masked tiles), fp32/bf16/fp16 inputs (mixed too), fp32 accumulation.
The W_dec gradient: ``atomic_add`` by default (the summation order of a latent chosen by
several samples varies run to run, as for torch's CUDA ``index_add_``). With
``deterministic=True`` (default: ``torch.are_deterministic_algorithms_enabled()``) the walk
runs ``DETERMINISTIC_CHUNK`` latents per launch, writes a_t G_t to a [B, chunk, D] fp32
buffer, and a second kernel sums each latent's rows in a stable sorted order: fixed order,
at the cost of that buffer (4*B*D*4 bytes) and one extra write + read of B*K*D floats.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import torch
from jaxtyping import Float, Int

from saelens_hierarchical.loss.common import accumulation_dtype, autocast_off, check_prefix_weights
from saelens_hierarchical.loss.reference import PrefixLoss
from saelens_hierarchical.loss.triton_configs import TileConfig, choose

SUPPORTED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
DETERMINISTIC_CHUNK = 4
FALLBACK = 'use loss_impl="auto" (chunked on CUDA, fused on CPU), "chunked" or "fused" instead'


class TritonUnavailableError(RuntimeError):
    """``loss_impl="triton"`` was asked for where the kernel cannot run."""


def interpreter_enabled() -> bool:
    """Whether TRITON_INTERPRET asks Triton to run kernels on CPU tensors (its interpreter)."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "yes", "on")


def triton_importable() -> bool:
    """Whether the triton package is installed (found without importing it)."""
    return importlib.util.find_spec("triton") is not None


def triton_runnable(device: torch.device) -> bool:
    """Triton importable, and the device CUDA (or CPU under TRITON_INTERPRET=1)."""
    if not triton_importable():
        return False
    return device.type == "cuda" or (device.type == "cpu" and interpreter_enabled())


def _require_runnable(device: torch.device) -> None:
    if not triton_importable():
        raise TritonUnavailableError(
            f"loss_impl='triton' needs the triton package (pip install triton); {FALLBACK}"
        )
    if not triton_runnable(device):
        raise TritonUnavailableError(
            f"loss_impl='triton' runs on CUDA tensors, or on CPU tensors under Triton's "
            f"interpreter (TRITON_INTERPRET=1, slow: for tests); got device {device}. {FALLBACK}"
        )


def _kernels() -> tuple[Any, Any, Any]:
    """(forward, backward, segment-sum) kernels, imported at the first launch: ``triton.jit``
    reads TRITON_INTERPRET then, so the mode is the one set when a kernel first runs."""
    from saelens_hierarchical.loss.triton_kernels import (
        backward_kernel,
        forward_kernel,
        segment_sum_kernel,
    )

    return forward_kernel, backward_kernel, segment_sum_kernel


def launch_config(tensors: list[torch.Tensor], k: int) -> TileConfig:
    """The table's configuration (``triton_configs.choose``) for these operands: by d_in, K,
    dtype and whether every pointer is 16-byte aligned (as Triton specialises the launch)."""
    sae_in = tensors[0]
    aligned = all(t.data_ptr() % 16 == 0 for t in tensors)  # host-side: no sync
    return choose(sae_in.shape[1], k, sae_in.dtype, aligned)


class _TritonHierarchicalLoss(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        sae_in: torch.Tensor,
        b_dec: torch.Tensor,
        acts: torch.Tensor,
        indices: torch.Tensor,
        W_dec: torch.Tensor,
        weights: torch.Tensor,
        cfg: TileConfig,
        deterministic: bool,
        out_dtype: torch.dtype,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        (batch, d_in), k = sae_in.shape, acts.shape[1]
        forward_kernel = _kernels()[0]
        grid = (-(-batch // cfg.block_b), -(-d_in // cfg.block_d))
        residual = sae_in.new_empty((batch, d_in), dtype=torch.float32)
        sae_out = sae_in.new_empty((batch, d_in), dtype=out_dtype)
        partial = sae_in.new_empty(grid[0] * grid[1], dtype=torch.float32)
        forward_kernel[grid](
            sae_in, b_dec, acts, indices, W_dec, weights, residual, sae_out, partial,
            batch, k, d_in, BLOCK_B=cfg.block_b, BLOCK_D=cfg.block_d,
            num_warps=cfg.num_warps, num_stages=cfg.num_stages,
        )  # fmt: skip
        ctx.save_for_backward(acts, indices, W_dec, weights, residual)
        ctx.cfg, ctx.deterministic, ctx.grid = cfg, deterministic, grid
        ctx.dtypes = (sae_in.dtype, b_dec.dtype)
        return (partial.sum() / batch).to(out_dtype), sae_out

    @staticmethod
    def backward(ctx: Any, grad_loss: torch.Tensor, grad_out: torch.Tensor):  # type: ignore[override]
        acts, indices, W_dec, weights, residual = ctx.saved_tensors
        (batch, d_in), k = residual.shape, acts.shape[1]
        _, backward_kernel, segment_kernel = _kernels()
        suffix = grad_out.float().contiguous().clone()  # G_{K+1}: the sae_out gradient
        upstream = suffix.clone() if ctx.needs_input_grad[0] else None
        residual = residual.clone()
        scaled = weights * (grad_loss.float() * (-2.0 / batch))  # a tensor: no host sync
        grad_acts = acts.new_empty((ctx.grid[1], batch, k), dtype=torch.float32)
        grad_W = torch.zeros(W_dec.shape, dtype=torch.float32, device=W_dec.device)
        step = DETERMINISTIC_CHUNK if ctx.deterministic else k
        contrib = residual.new_empty((batch * min(step, k), d_in)) if ctx.deterministic else grad_W
        for t_hi in range(k, 0, -step):
            t_lo = max(t_hi - step, 0)
            backward_kernel[ctx.grid](
                residual, suffix, acts, indices, W_dec, scaled, grad_acts, grad_W, contrib,
                batch, k, d_in, t_lo, t_hi, ATOMIC=not ctx.deterministic,
                BLOCK_B=ctx.cfg.block_b, BLOCK_D=ctx.cfg.block_d,
                num_warps=ctx.cfg.num_warps, num_stages=ctx.cfg.num_stages,
            )  # fmt: skip
            if ctx.deterministic:
                _sorted_scatter(segment_kernel, contrib, indices[:, t_lo:t_hi], grad_W, ctx.cfg)
        grad_sae_in = (upstream - suffix).to(ctx.dtypes[0]) if upstream is not None else None
        grad_b_dec = suffix.sum(0).to(ctx.dtypes[1]) if ctx.needs_input_grad[1] else None
        grad_acts_sum = grad_acts.sum(0).to(acts.dtype)
        grad_W_dec = grad_W.to(W_dec.dtype)
        return grad_sae_in, grad_b_dec, grad_acts_sum, None, grad_W_dec, None, None, None, None


def _sorted_scatter(
    segment_kernel: Any,
    contrib: torch.Tensor,
    chunk_indices: torch.Tensor,
    grad_W: torch.Tensor,
    cfg: TileConfig,
) -> None:
    """grad_W[idx] += contrib rows, each latent's rows summed in a stable sorted order."""
    flat = chunk_indices.reshape(-1)  # slot b * chunk + (t - t_lo), as the backward kernel wrote
    latents, order = torch.sort(flat, stable=True)
    starts = torch.ones_like(latents, dtype=torch.bool)
    starts[1:] = latents[1:] != latents[:-1]
    run_end = torch.searchsorted(latents, latents, right=True)
    end = torch.where(starts, run_end, torch.arange(len(flat), device=flat.device))
    grid = (len(flat), -(-grad_W.shape[1] // cfg.block_d))
    segment_kernel[grid](
        contrib, order, latents, end, grad_W, grad_W.shape[1], BLOCK_D=cfg.block_d,
        num_warps=cfg.num_warps, num_stages=cfg.num_stages,
    )  # fmt: skip


def _check_inputs(tensors: dict[str, torch.Tensor], indices: torch.Tensor) -> None:
    """ValueError naming the first tensor with an unsupported dtype or on another device."""
    device = tensors["sae_in"].device
    for name, tensor in {**tensors, "indices": indices}.items():
        if tensor.device != device:
            raise ValueError(
                f"loss_impl='triton': {name} is on {tensor.device} but sae_in is on {device}; "
                "move every tensor to one device"
            )
    for name, tensor in tensors.items():
        if tensor.dtype not in SUPPORTED_DTYPES:
            raise ValueError(
                f"loss_impl='triton': {name} has dtype {tensor.dtype}; supported: float32, "
                'bfloat16, float16 (loss_impl="fused" handles float64)'
            )
    if indices.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"loss_impl='triton': indices must be int32 or int64; got {indices.dtype}")


def hierarchical_loss_triton(
    sae_in: Float[torch.Tensor, "batch d_in"],
    b_dec: Float[torch.Tensor, " d_in"],
    acts: Float[torch.Tensor, "batch k"],
    indices: Int[torch.Tensor, "batch k"],
    W_dec: Float[torch.Tensor, "d_sae d_in"],
    weights: list[float],
    deterministic: bool | None = None,
    block_b: int | None = None,
    block_d: int | None = None,
    config: TileConfig | None = None,
) -> PrefixLoss:
    """Same value and gradients as ``hierarchical_loss_reference`` (fp32 accumulation).

    ``deterministic``: fixed-order W_dec gradient (None: follow
    ``torch.are_deterministic_algorithms_enabled()``). ``config``: the launch configuration
    (None: ``triton_configs.choose``'s for d_in and the pointers' alignment).
    ``block_b``/``block_d``: override its tile (powers of two).
    """
    _check_inputs({"sae_in": sae_in, "b_dec": b_dec, "acts": acts, "W_dec": W_dec}, indices)
    _require_runnable(sae_in.device)
    check_prefix_weights(weights, acts.shape[1])
    for name, block in (("block_b", block_b), ("block_d", block_d)):
        if block is not None and (block < 1 or block & (block - 1)):
            raise ValueError(f"{name} must be a power of two >= 1; got {block}")
    if deterministic is None:
        deterministic = torch.are_deterministic_algorithms_enabled()
    operands = [t.contiguous() for t in (sae_in, b_dec, acts, indices, W_dec)]
    cfg = config or launch_config(operands, acts.shape[1])
    # tl.arange needs a power of two; tiles under 2 x 16 are raised to it
    cfg = cfg._replace(
        block_b=max(block_b or cfg.block_b, 2), block_d=max(block_d or cfg.block_d, 16)
    )
    weight_tensor = torch.tensor(weights, dtype=torch.float32, device=sae_in.device)
    with autocast_off(sae_in.device):
        loss, sae_out = _TritonHierarchicalLoss.apply(
            *operands,
            weight_tensor,
            cfg,
            deterministic,
            accumulation_dtype(sae_in, b_dec, acts, W_dec),
        )
    return PrefixLoss(loss, sae_out)

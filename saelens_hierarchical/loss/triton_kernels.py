"""Triton kernels of the HierarchicalTopK prefix loss; ``loss_triton`` launches them.

Imported at the first launch, not with the package: ``triton.jit`` reads TRITON_INTERPRET (run
on CPU tensors, Triton's interpreter) when this module is imported, once per process.
Tiles are [BLOCK_B, BLOCK_D] of (batch, d_in), masked at the edges, accumulated in fp32; the
walk and its suffix sum are those of ``loss_fused`` (Balagansky et al., arXiv 2505.24473).
``@no_type_check`` keeps the runtime type checker's wrapper off the kernels' source.
Only Triton builtins and our own ``@triton.jit`` functions are called (``tl.reduce`` with
``_add``, not ``tl.sum``; ``tl.full``, not ``tl.zeros``): the standard-library helpers are
jitted when Triton is imported, so they would not run under an interpreter switched on later.

Memory traffic and the register budget (launch configurations: ``triton_configs``). Per loop
step a program with a [BB, BD] tile moves, for input dtype of e bytes:
- W_dec row gathers: BB row segments of BD * e bytes (forward and backward alike);
- atomics (backward): BB * BD fp32 adds into dW. dW is [F, D] fp32, 604 MB at F = 65,536,
  D = 2,304, far above an H100's 50 MB L2, so these adds end as DRAM read-modify-writes;
- residual state: r (and the suffix sum s in backward) stay in registers for the whole walk,
  read and written once per kernel, not per step.
At B = 4,096, D = 2,304, K = 64, bf16, one step gathers B*K*D*2 = 1.2 GB forward and again
backward, adds 2.4 GB of fp32 atomics, and moves about 6*B*D*4 = 0.23 GB of state: the
kernels are memory-bound (a few FLOPs per byte). The gathers' addresses depend on loads
(idx), so a warp has one step's gathers in flight at a time and software pipelining
(num_stages) compiles to the same code; latency is hidden by resident warps only. Little's
law: 3.35 TB/s (H100 SXM) * ~0.6 us DRAM latency / 132 SMs is about 15 KB in flight per SM.
The table's vectorised tile (16-divisible d_in, aligned pointers), 4 x 256 bf16 on 4 warps,
gathers 2 KB per step, so 8 resident programs are needed: 32 warps per SM, which the
65,536-register file allows at <= 64 registers per thread, the budget (fp32 tiles gather
twice the bytes and need half the programs). The scalar-load tile for other shapes (4 x 128,
1 KB per step) falls short: 32 warps hold 8 KB in flight; it keeps registers within the same
budget so that as many programs as possible stay resident.
``results/benchmarks/triton_aot.md`` has the compiled registers and occupancy per config.
"""

from __future__ import annotations

from typing import no_type_check

import triton
import triton.language as tl


@triton.jit
@no_type_check
def _add(a, b):
    return a + b


@triton.jit
@no_type_check
def _tile(B, D, BLOCK_B: tl.constexpr, BLOCK_D: tl.constexpr):
    """This program's [BLOCK_B, BLOCK_D] tile of a row-major [B, D] tensor, with its masks."""
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    cols = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    rmask, cmask = rows < B, cols < D
    mask = rmask[:, None] & cmask[None, :]
    return rows, cols, rmask, cmask, mask, rows.to(tl.int64)[:, None] * D + cols[None, :]


@triton.jit
@no_type_check
def forward_kernel(
    x_ptr, b_ptr, a_ptr, idx_ptr, w_ptr, weight_ptr, res_ptr, out_ptr, part_ptr,
    B, K, D, BLOCK_B: tl.constexpr, BLOCK_D: tl.constexpr,
):  # fmt: skip
    rows, cols, rmask, cmask, mask, offs = _tile(B, D, BLOCK_B, BLOCK_D)
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    r = x - tl.load(b_ptr + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]
    r = tl.where(mask, r, 0.0)
    acc = tl.full([BLOCK_B], 0.0, tl.float32)
    for t in range(0, K):
        idx = tl.load(idx_ptr + rows * K + t, mask=rmask, other=0).to(tl.int64)
        a = tl.load(a_ptr + rows * K + t, mask=rmask, other=0.0).to(tl.float32)
        e = tl.load(w_ptr + idx[:, None] * D + cols[None, :], mask=mask, other=0.0)
        r = r - a[:, None] * e.to(tl.float32)
        acc += tl.load(weight_ptr + t) * tl.reduce(r * r, 1, _add)
    tl.store(res_ptr + offs, r, mask=mask)
    tl.store(out_ptr + offs, (x - r).to(out_ptr.dtype.element_ty), mask=mask)
    tl.store(
        part_ptr + tl.program_id(0) * tl.num_programs(1) + tl.program_id(1), tl.reduce(acc, 0, _add)
    )


@triton.jit
@no_type_check
def backward_kernel(
    r_ptr, s_ptr, a_ptr, idx_ptr, w_ptr, scaled_weight_ptr, da_ptr, dw_ptr, contrib_ptr,
    B, K, D, t_lo, t_hi, ATOMIC: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_D: tl.constexpr,
):  # fmt: skip
    rows, cols, rmask, cmask, mask, offs = _tile(B, D, BLOCK_B, BLOCK_D)
    r = tl.load(r_ptr + offs, mask=mask, other=0.0)  # r_{t_hi}, fp32 state
    s = tl.load(s_ptr + offs, mask=mask, other=0.0)  # G_{t_hi + 1}, fp32 state
    da_base = da_ptr + tl.program_id(1).to(tl.int64) * B * K
    for i in range(0, t_hi - t_lo):
        t = t_hi - 1 - i
        s += tl.load(scaled_weight_ptr + t) * r  # G_t = G_{t+1} - (2/B) w_t r_t
        idx = tl.load(idx_ptr + rows * K + t, mask=rmask, other=0).to(tl.int64)
        a = tl.load(a_ptr + rows * K + t, mask=rmask, other=0.0).to(tl.float32)
        e = tl.load(w_ptr + idx[:, None] * D + cols[None, :], mask=mask, other=0.0)
        e = e.to(tl.float32)
        r += a[:, None] * e  # r_{t-1}
        tl.store(da_base + rows * K + t, tl.reduce(e * s, 1, _add), mask=rmask)
        if ATOMIC:
            tl.atomic_add(dw_ptr + idx[:, None] * D + cols[None, :], a[:, None] * s, mask=mask)
        else:
            slot = rows.to(tl.int64) * (t_hi - t_lo) + (t - t_lo)
            tl.store(contrib_ptr + slot[:, None] * D + cols[None, :], a[:, None] * s, mask=mask)
    tl.store(r_ptr + offs, r, mask=mask)
    tl.store(s_ptr + offs, s, mask=mask)


@triton.jit
@no_type_check
def segment_sum_kernel(
    contrib_ptr, order_ptr, latent_ptr, end_ptr, dw_ptr, D, BLOCK_D: tl.constexpr
):  # fmt: skip
    # One program per (sorted slot, D tile); only the first slot of each latent's run sums
    # the run, in sorted (stable) order, and owns that W_dec gradient row: no races.
    i = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    cmask = cols < D
    end = tl.load(end_ptr + i).to(tl.int32)  # int32 like i: one loop-bound type
    latent = tl.load(latent_ptr + i).to(tl.int64)
    acc = tl.full([BLOCK_D], 0.0, tl.float32)
    for j in range(i, end):
        slot = tl.load(order_ptr + j).to(tl.int64)
        acc += tl.load(contrib_ptr + slot * D + cols, mask=cmask, other=0.0)
    if end > i:
        row = dw_ptr + latent * D + cols
        tl.store(row, tl.load(row, mask=cmask, other=0.0) + acc, mask=cmask)

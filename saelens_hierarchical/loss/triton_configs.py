"""Launch configurations of the Triton prefix-loss kernels: tile, warps and pipeline stages.

Shapes: batch (B), k (K), d_in (D). A ``TileConfig`` is one launch: a [BLOCK_B, BLOCK_D] tile of
(batch, d_in) per program, ``num_warps`` warps, ``num_stages`` software-pipeline stages.
``choose`` picks one from a fixed table keyed by (d_in, K, dtype); ``CANDIDATES`` holds the
table's two and the alternatives ``benchmarks/gpu_check.py`` times (any can be passed as
``config=``), so every configuration a launch can get is compiled by benchmarks/triton_aot.py. ``BEFORE_TUNING`` is the configuration launched before the
ahead-of-time resource check (benchmarks/triton_aot.py), kept to report it, never launched.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class TileConfig(NamedTuple):
    """One launch configuration of the forward and backward kernels."""

    block_b: int
    """Samples per program (rows of the tile)."""
    block_d: int
    """d_in columns per program."""
    num_warps: int
    """Warps per program (32 threads each)."""
    num_stages: int
    """Software-pipeline depth Triton gives the K loop (loads issued ahead)."""

    @property
    def name(self) -> str:
        return f"{self.block_b}x{self.block_d}/w{self.num_warps}/s{self.num_stages}"


BEFORE_TUNING = TileConfig(16, 128, 4, 3)
# Registers grow with tile elements per thread (BB * BD / (32 * warps)); the register budget
# (<= 64 per thread) and its memory-traffic argument are in triton_kernels' docstring, the
# compiled counts in results/benchmarks/triton_aot.md. 4 x 256 on 4 warps: 8 elements per
# thread, for a 16-divisible d_in with 16-aligned pointers (Triton then vectorises the row
# gathers); within the budget on sm_80 and sm_90 in every dtype, atomics included (16 x 128
# on 8 warps, also 8 per thread, needs more registers for the atomic backward on sm_80).
ALIGNED = TileConfig(4, 256, 4, 1)
# 4 x 128 on 4 warps: 4 elements per thread. Without 16-divisibility each element's gather
# is a scalar load with its own 64-bit address; BEFORE_TUNING's 16 elements per thread then
# hit the 255-register cap and spilled.
UNALIGNED = TileConfig(4, 128, 4, 1)
# What gpu_check.py times against the table's two (each compiles without spills in both
# specialisations); num_stages is 1 throughout: 1 and 3 compile to the same code, the K
# loop's loads being data-dependent gathers with no tl.dot to pipeline.
CANDIDATES: tuple[TileConfig, ...] = (
    ALIGNED,
    UNALIGNED,
    TileConfig(16, 128, 8, 1),
    TileConfig(8, 128, 4, 1),
)


def choose(d_in: int, k: int, dtype: torch.dtype, pointers_aligned: bool = True) -> TileConfig:
    """The table's configuration for (d_in, K, dtype); always one of ``CANDIDATES``.

    The split is on what Triton specialises: d_in divisible by 16 with 16-byte-aligned
    pointers (every d_in of a real model: 768, 2,304, 4,096) gets the vectorised tile,
    anything else the scalar-load tile. K sets only the loop's trip count (the
    per-step registers and bytes do not depend on it), and both choices stay within the
    register budget in fp32, bf16 and fp16 alike, so neither moves the choice; they stay in
    the key for a table that GPU timings (gpu_check.py) may refine.
    """
    del k, dtype  # see above: same choice for every K and dtype at these register counts
    return ALIGNED if d_in % 16 == 0 and pointers_aligned else UNALIGNED

"""Packing the step-by-step task's rows: tokens per step and padding share, before and after.

The step task's rows are right-padded to the longest solution (BOS + expression + ``=`` +
solution + EOS, ``lime_lens.arithmetic.step_vocab``), so a batch of 128 short and long
expressions is mostly padding at the short end. :func:`step_packing_stats` measures that on the
task's actual training mixture, in the trainer's batch order (``lime_lens.train.data.BatchOrder``,
first epoch), and what first-fit-decreasing packing into rows of ``row_len`` leaves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from jaxtyping import Int64

from lime_lens.train.data import BatchOrder
from lime_lens.train.packing import example_lengths, padding_stats


def default_row_len(lengths: Int64[torch.Tensor, " n"]) -> int:
    """Packed row length: the longest example + 15%, up to a multiple of 8 (the step task: 68
    -> 80 tokens, 6% padding in batches of 128). Longer rows pack a little tighter but every
    query of a packed row scores all of its keys (the mask is dense), so attention grows with
    the row; at 80 a real token reads 85 keys on average, against 118 in padded rows."""
    return math.ceil(1.15 * int(lengths.max()) / 8) * 8


def step_packing_stats(
    rows: dict[str, torch.Tensor],
    batch_size: int,
    row_lens: Sequence[int],
    pad_id: int = 0,
    seed: int = 0,
    max_batches: int | None = 200,
) -> dict[str, Any]:
    """Per candidate ``row_len``: tokens per step and padding share, padded vs packed, over the
    first ``max_batches`` batches of the trainer's order (None: a whole epoch)."""
    lengths = example_lengths(rows["tokens"], pad_id)
    n = lengths.numel()
    count = n if max_batches is None else min(n, max_batches * batch_size)
    ordered = lengths[BatchOrder(n, seed).indices(0, count)]
    padded_len = int(rows["tokens"].shape[1])
    return {
        "examples": n,
        "mean_example_tokens": float(lengths.float().mean()),
        "longest_example_tokens": int(lengths.max()),
        "by_row_len": {
            str(row_len): padding_stats(ordered, batch_size, row_len, padded_len)
            for row_len in row_lens
        },
    }

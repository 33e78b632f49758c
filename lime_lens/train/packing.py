"""Packed rows: several examples per row, with document masking and per-example positions.

Right-padded example rows (e.g. the step task's, ``lime_lens.arithmetic.step_vocab``) waste the
padding: 42% of the step task's row tokens. Packing concatenates a batch's examples into rows of
``row_len`` tokens (first-fit decreasing, so no example is split), and records for every token
its example (``doc_ids``) and its position inside it (``positions``). A model reading packed rows
must let a token attend only to earlier tokens of its own example (:func:`block_causal_mask`) and
rotate / embed it at its position inside that example; then every example sees exactly what it
sees alone in its padded row, and the loss (a mean over the same answer tokens) is the same.

The batch keeps its examples (the paper's batch is 128 expressions, App. A): only the number of
rows changes from step to step. ``n_rows`` pads the row count to a fixed value (fixed shapes for
``torch.compile`` / CUDA graphs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
from jaxtyping import Bool, Int64

PAD_DOC = -1
"""``doc_ids`` of padding tokens: they attend only to earlier padding of their row (no empty
attention row, so no NaN), and nothing else attends to them."""


def example_lengths(tokens: Int64[torch.Tensor, "batch pos"], pad_id: int) -> torch.Tensor:
    """Tokens of each right-padded row before its padding (pad ids after the last real token)."""
    real = tokens != pad_id
    last = torch.where(real, torch.arange(tokens.shape[1]), -1).amax(dim=1)
    return last + 1  # [batch]


def first_fit_decreasing(lengths: list[int], row_len: int) -> list[list[int]]:
    """Example indices per row: longest first, each into the first row it fits (no splits)."""
    too_long = [n for n in lengths if n > row_len]
    if too_long:
        raise ValueError(f"row_len {row_len} is shorter than an example of {max(too_long)} tokens")
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda j: (-lengths[j], j)):
        for r, left in enumerate(room):
            if lengths[i] <= left:
                rows[r].append(i)
                room[r] -= lengths[i]
                break
        else:
            rows.append([i])
            room.append(row_len - lengths[i])
    for members in rows:  # within a row, keep the batch's order of examples
        members.sort()
    return rows


def pack_batch(
    batch: Mapping[str, torch.Tensor],
    lengths: Int64[torch.Tensor, " batch"],
    row_len: int,
    n_rows: int | None = None,
    pad_values: Mapping[str, Any] | None = None,
) -> dict[str, torch.Tensor]:
    """The examples of ``batch`` (right-padded rows, e.g. ``tokens`` and ``answer_mask``) packed
    into rows of ``row_len``, plus ``positions`` and ``doc_ids`` [rows, row_len].

    Every per-token tensor of ``batch`` is packed alike; padding takes ``pad_values[name]``
    (default 0 / False). ``n_rows`` fixes the row count (more rows than fit raise).
    """
    groups = first_fit_decreasing(lengths.tolist(), row_len)
    rows = len(groups) if n_rows is None else n_rows
    if rows < len(groups):
        raise ValueError(f"n_rows={n_rows} is fewer than the {len(groups)} packed rows needed")
    pad_values = dict(pad_values or {})
    out = {
        name: torch.full((rows, row_len), pad_values.get(name, 0), dtype=t.dtype, device=t.device)
        for name, t in batch.items()
    }
    positions = torch.zeros((rows, row_len), dtype=torch.int64)
    doc_ids = torch.full((rows, row_len), PAD_DOC, dtype=torch.int64)
    for r, members in enumerate(groups):
        start = 0
        for i in members:
            n = int(lengths[i])
            for name, t in batch.items():
                out[name][r, start : start + n] = t[i, :n]
            positions[r, start : start + n] = torch.arange(n)
            doc_ids[r, start : start + n] = i
            start += n
    device = next(iter(batch.values())).device
    return {**out, "positions": positions.to(device), "doc_ids": doc_ids.to(device)}


def block_causal_mask(
    doc_ids: Int64[torch.Tensor, "batch pos"],
) -> Bool[torch.Tensor, "batch 1 pos pos"]:
    """True where query i may read key j: same example and j <= i (causal within each example)."""
    n = doc_ids.shape[1]
    causal = torch.ones((n, n), dtype=torch.bool, device=doc_ids.device).tril()
    return ((doc_ids[:, :, None] == doc_ids[:, None, :]) & causal)[:, None]  # [batch, 1, pos, pos]


def padding_stats(
    lengths: Int64[torch.Tensor, " n"], batch_size: int, row_len: int, padded_len: int
) -> dict[str, int | float]:
    """Tokens per step and padding share of padded rows vs packed rows, over consecutive batches
    of ``batch_size`` examples of ``lengths`` (the data's order)."""
    padded, packed, real = 0, 0, 0
    batches = 0
    for start in range(0, len(lengths) - batch_size + 1, batch_size):
        chunk = lengths[start : start + batch_size].tolist()
        real += sum(chunk)
        padded += batch_size * padded_len
        packed += len(first_fit_decreasing(chunk, row_len)) * row_len
        batches += 1
    if batches == 0:
        raise ValueError(f"fewer than batch_size={batch_size} examples")
    return {
        "batch_size": batch_size,
        "row_len_packed": row_len,
        "row_len_padded": padded_len,
        "real_tokens_per_step": real / batches,
        "tokens_per_step_padded": padded / batches,
        "tokens_per_step_packed": packed / batches,
        "padding_share_padded": 1 - real / padded,
        "padding_share_packed": 1 - real / packed,
        "batches": batches,
    }


class DocBuckets(NamedTuple):
    """Where each example of packed rows sits, grouped by length, for per-example attention.

    A packed row's dense mask makes every query score all ``row_len`` keys; gathering each
    example into its own causal row (examples of similar length share a bucket, padded to the
    bucket's longest) scores only its own keys: about half the attention work on the step task.
    """

    gather: list[torch.Tensor]
    """Per bucket [examples, longest]: flat positions (row * row_len + pos); past an example's
    end, its first position (never read: those slots come after every real query, causally)."""
    valid: list[torch.Tensor]
    """Per bucket [examples, longest]: True at real tokens."""
    order: torch.Tensor
    """Flat positions of every real token, bucket by bucket (``gather[b][valid[b]]`` concatenated)."""


def doc_buckets(doc_ids: Int64[torch.Tensor, "batch pos"], n_buckets: int = 4) -> DocBuckets:
    """:class:`DocBuckets` of packed rows (examples are contiguous runs of one doc id)."""
    flat = doc_ids.reshape(-1)
    values, counts = torch.unique_consecutive(flat, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    real = values != PAD_DOC
    starts, counts = starts[real], counts[real]
    by_length = torch.argsort(counts, stable=True)
    index, valid = [], []
    for chunk in torch.tensor_split(by_length, min(n_buckets, len(by_length))):
        longest = int(counts[chunk].max())
        offsets = torch.arange(longest, device=flat.device)
        ok = offsets[None, :] < counts[chunk, None]
        index.append(starts[chunk, None] + torch.where(ok, offsets[None, :], 0))
        valid.append(ok)
    order = torch.cat([i[v] for i, v in zip(index, valid, strict=True)])
    return DocBuckets(index, valid, order)

"""Training data: rows (packed token rows, e.g. from ``lime_lens.assets.dataset.tokenize_rows``)
and a deterministic, resumable batch order over them."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from jaxtyping import Int64

Rows = torch.Tensor | Mapping[str, torch.Tensor]
"""Training data: a ``[n_rows, ...]`` tensor, or a mapping of equal-length tensors (e.g. tokens
plus a loss mask), indexed by row."""


def n_rows(data: Rows) -> int:
    """Number of rows of ``data``; a mapping's tensors must agree."""
    if isinstance(data, torch.Tensor):
        return data.shape[0]
    lengths = {name: t.shape[0] for name, t in data.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"data tensors have different numbers of rows: {lengths}")
    return next(iter(lengths.values()))


def take_rows(data: Rows, index: torch.Tensor) -> Rows:
    """Rows ``index`` of ``data`` (same type as ``data``)."""
    if isinstance(data, torch.Tensor):
        return data[index]
    return {name: t[index] for name, t in data.items()}


class BatchOrder:
    """Which rows make up the global batch: an endless sequence of seeded permutations.

    Sample position ``p`` is row ``perm_e[p % n]`` with ``e = p // n`` and ``perm_e`` a
    permutation seeded by ``(seed, e)``. A batch is fully determined by the number of samples
    already seen, which is all a checkpoint needs to resume the data stream exactly.
    """

    def __init__(self, n: int, seed: int) -> None:
        if n < 1:
            raise ValueError("training data has no rows")
        self.n, self.seed = n, seed
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.int64)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=gen)
        return self._perm

    def indices(self, start: int, count: int) -> Int64[torch.Tensor, " count"]:
        """Row indices for sample positions ``start .. start + count - 1``."""
        out = []
        for pos in range(start, start + count):
            out.append(self._permutation(pos // self.n)[pos % self.n])
        return torch.stack(out)


def rank_slice(global_batch: int, rank: int, world_size: int) -> slice:
    """Rank ``rank``'s share of a global batch; equal shares, so DDP's mean gradient is exact."""
    if global_batch % world_size:
        raise ValueError(
            f"TrainConfig.batch_size {global_batch} is not divisible by world size {world_size}"
        )
    per_rank = global_batch // world_size
    return slice(rank * per_rank, (rank + 1) * per_rank)

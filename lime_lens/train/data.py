"""Training data: text sources -> packed token rows -> a deterministic, resumable batch order."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from jaxtyping import Int64
from transformers import PreTrainedTokenizerBase

from lime_lens.assets import load_corpus
from lime_lens.assets.dataset import pack_tokens, tokenize_text

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


def split_text(text: str, val_fraction: float) -> tuple[str, str]:
    """Hold out the last ``val_fraction`` of lines (at least one) as validation."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    lines = text.split("\n")
    if len(lines) < 2:
        raise ValueError("text has a single line; cannot hold out validation lines")
    cut = min(len(lines) - 1, round((1 - val_fraction) * len(lines)))
    return "\n".join(lines[:cut]), "\n".join(lines[cut:])


def load_texts(
    text_file: str | None = None,
    hf_dataset: str | None = None,
    hf_config: str | None = None,
    hf_split: str = "train",
    hf_val_split: str | None = None,
    hf_text_column: str = "text",
    val_fraction: float = 0.05,
) -> tuple[str, str]:
    """(train, validation) text: the embedded Austen corpus unless a file or HF dataset is named."""
    if text_file is not None and hf_dataset is not None:
        raise ValueError("give either text_file or hf_dataset, not both")
    if text_file is not None:
        path = Path(text_file)
        if not path.is_file():
            raise ValueError(f"text_file {text_file!r} is not a file")
        return split_text(path.read_text(encoding="utf-8"), val_fraction)
    if hf_dataset is not None:
        return _hf_texts(
            hf_dataset, hf_config, hf_split, hf_val_split, hf_text_column, val_fraction
        )
    return load_corpus("train"), load_corpus("validation")


def _hf_texts(name, config, split, val_split, column, val_fraction) -> tuple[str, str]:  # noqa: ANN001
    import datasets  # the real hub path; needs network or a local cache

    def text_of(split_name: str) -> str:
        ds = datasets.load_dataset(name, config, split=split_name)
        if column not in ds.column_names:
            raise ValueError(f"hf_text_column {column!r} not in {name} columns {ds.column_names}")
        return "\n".join(ds[column])

    if val_split is not None:
        return text_of(split), text_of(val_split)
    return split_text(text_of(split), val_fraction)


def tokenize_rows(
    text: str, tokenizer: PreTrainedTokenizerBase, context_size: int
) -> Int64[torch.Tensor, "n_rows context_size"]:
    """BOS-prefixed, non-overlapping rows of ``context_size`` tokens (see ``pack_tokens``)."""
    if tokenizer.bos_token_id is None:
        raise ValueError(f"tokenizer {tokenizer.name_or_path!r} has no bos_token_id")
    return pack_tokens(tokenize_text(text, tokenizer), context_size, tokenizer.bos_token_id)

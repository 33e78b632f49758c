"""Text -> packed token rows, and token datasets over the embedded corpus in that layout (what
SAELens and ``lime_lens.train`` consume)."""

from __future__ import annotations

import datasets
import numpy as np
import torch
from jaxtyping import Int64
from transformers import PreTrainedTokenizerBase

from lime_lens.assets.corpus import Split, load_corpus
from lime_lens.assets.tokenizer import load_tokenizer


def pack_tokens(
    ids: list[int] | np.ndarray, context_size: int, bos_token_id: int
) -> Int64[torch.Tensor, "n_rows context_size"]:
    """Cut a token stream into rows of ``context_size``: BOS + the next ``context_size - 1`` ids.

    Rows do not overlap; the trailing partial row is dropped (never padded).
    """
    if context_size < 2:
        raise ValueError(f"context_size must be >= 2 (BOS + 1 token), got {context_size}")
    body = context_size - 1
    stream = torch.as_tensor(np.asarray(ids, dtype=np.int64))
    n_rows = stream.numel() // body
    if n_rows == 0:
        raise ValueError(
            f"{stream.numel()} tokens are fewer than one row of {body} (context_size - 1)"
        )
    rows = stream[: n_rows * body].view(n_rows, body)
    bos = torch.full((n_rows, 1), bos_token_id, dtype=torch.int64)
    return torch.cat([bos, rows], dim=1)


def tokenize_text(text: str, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The whole text as one id stream (no special tokens; rows get their BOS in pack_tokens)."""
    return tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]


def tokenize_rows(
    text: str, tokenizer: PreTrainedTokenizerBase, context_size: int
) -> Int64[torch.Tensor, "n_rows context_size"]:
    """BOS-prefixed, non-overlapping rows of ``context_size`` tokens of any ``text`` (see
    :func:`pack_tokens`): the rows ``lime_lens.train.train`` and SAELens consume."""
    if tokenizer.bos_token_id is None:
        raise ValueError(f"tokenizer {tokenizer.name_or_path!r} has no bos_token_id")
    return pack_tokens(tokenize_text(text, tokenizer), context_size, tokenizer.bos_token_id)


def load_token_dataset(
    split: Split = "train",
    context_size: int = 128,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> datasets.Dataset:
    """The Austen ``split`` as a ``datasets.Dataset`` with one column, ``tokens``.

    Each row is ``context_size`` int64 ids starting with the tokenizer's BOS, ready for
    SAELens (``ActivationsStore``/``override_dataset`` with ``prepend_bos=False``) and the trainer.
    ``tokenizer`` defaults to :func:`load_tokenizer` (BPE-4096).
    """
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer()
    rows = tokenize_rows(load_corpus(split), tokenizer, context_size)
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("int64"))})
    ds = datasets.Dataset.from_dict({"tokens": rows.numpy()}, features=features)
    return ds.with_format("torch")

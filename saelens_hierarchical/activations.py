"""Sizing of SAELens's ``ActivationsStore`` for a training run."""

from __future__ import annotations


def mixing_buffer_batches(train_batch_size_tokens: int, context_size: int) -> int:
    """``n_batches_in_buffer`` for SAELens's ``ActivationsStore``: its mixing buffer holds
    ``n_batches_in_buffer * context_size`` activations and must fit two training batches
    (it keeps half for mixing)."""
    return max(4, -(-2 * train_batch_size_tokens // context_size))

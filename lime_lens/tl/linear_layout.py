"""MLP and unembedding weights held so that TransformerLens's per-call weight copy is free.

TransformerLens 3.9's ``GatedMLP.forward`` and ``Unembed.forward`` call
``F.linear(x, W.T.contiguous())`` on [in, out] weights (HF's [out, in] layout, so that bf16 sums
match HF): a full copy of every MLP and unembedding weight on every call, about a quarter of a
KV-cached decode step on CPU (``benchmarks/bench_attention.py``). Held as the transpose of a
contiguous [out, in] tensor, the same weight makes ``W.T.contiguous()`` return ``W.T`` itself:
F.linear gets the very operand the copy gave it, so outputs, gradients and hooks are
bit-identical, and nothing is copied.

Models this package builds (``HookedLIMeTransformer``, and vanilla models through
``use_fused_attention``) are laid out so at construction. The layout survives ``load_state_dict``,
``process_weights_``, save / load and ``.to()``. FSDP2's ``fully_shard`` refuses non-contiguous
parameters: call :func:`store_linear_weights_contiguous` first (the trainer does).
"""

from __future__ import annotations

import torch

from lime_lens.tl.internals import LINEAR_WEIGHTS


def _linear_weights(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [
        getattr(module, name)
        for module in model.modules()
        for name in LINEAR_WEIGHTS.get(type(module), ())
    ]


def store_linear_weights_transposed(model: torch.nn.Module) -> torch.nn.Module:
    """Hold every MLP / unembedding weight as the transpose of a contiguous [out, in] tensor, in
    place (the same Parameter objects, shapes and values); returns ``model``."""
    for param in _linear_weights(model):
        if not param.T.is_contiguous():
            param.data = param.data.T.contiguous().T
    return model


def store_linear_weights_contiguous(model: torch.nn.Module) -> torch.nn.Module:
    """The stock layout again (contiguous [in, out]), in place: what FSDP2 requires."""
    for param in _linear_weights(model):
        if not param.is_contiguous():
            param.data = param.data.contiguous()
    return model

"""The recipe of the shipped tiny models: LIMe-kv, LIMe residual-dynamic and their equal-size
vanilla baseline, on the embedded Austen corpus with the repo's trainer (``lime_lens.train``).

The one home of these constants: ``scripts/train_tiny_lime.py`` trains the shipped models with
them (``lime_lens/assets/data/tiny_*``), the experiments under ``experiments/`` (reproduction,
ablation, depth) train their runs with them, and ``lime_lens.analysis.report`` cuts them to a few
steps for its in-process stand-in models.
"""

from __future__ import annotations

from typing import Any

import torch
from transformer_lens import HookedTransformer

from lime_lens.assets import load_corpus, load_tokenizer
from lime_lens.assets.dataset import tokenize_rows
from lime_lens.train.architectures import ModelShape, build_model, count_params
from lime_lens.train.baseline import equal_size_baseline_shape
from lime_lens.train.config import TrainConfig
from lime_lens.train.trainer import train

TINY_CONTEXT_SIZE = 64
"""Tokens per training/validation row (BOS + 63), BPE-4096."""
TINY_SHAPE = dict(
    n_layers=4, d_model=64, n_heads=4, n_key_value_heads=None, d_head=16, d_mlp=172, n_ctx=64
)
"""``lime_lens.train.architectures.ModelShape`` of the LIMe models (full multi-head attention, so
the kv router mixes 4 KV heads per layer). The vanilla baseline's ``d_mlp`` is matched by
:func:`matched_baseline_shape`."""
TINY_TRAIN: dict[str, Any] = dict(
    max_steps=500, batch_size=16, lr=1e-3, router_lr=1e-2, warmup_steps=50, eval_interval=250
)
"""``lime_lens.train.TrainConfig`` overrides: the paper's optimiser (App. A), warmup scaled to 10%
of a 500-step run; everything else at the TrainConfig defaults. 512,000 training tokens."""
MATCHED_ARCHES = ("lime-kv", "lime-residual-dynamic")
"""The LIMe variants whose parameter counts the baseline is matched to."""


def smoke_train(steps: int) -> dict[str, Any]:
    """TINY_TRAIN cut to a ``steps``-step smoke run: a different recipe (a run trained with it
    must not reuse stored runs, and its numbers are never results)."""
    return {**TINY_TRAIN, "max_steps": steps, "warmup_steps": 1, "eval_interval": 0}


def matched_baseline_shape(
    d_vocab: int, lime_arches: tuple[str, ...] = MATCHED_ARCHES
) -> dict[str, Any]:
    """TINY_SHAPE with the vanilla ``d_mlp`` that minimises the worst relative parameter gap to
    every model in ``lime_arches`` (the router parameters are the only difference)."""
    return equal_size_baseline_shape(TINY_SHAPE, d_vocab, lime_arches)


def train_tiny(
    arch: str,
    seed: int,
    shape: dict[str, Any] | None = None,
    train_overrides: dict[str, Any] | None = None,
) -> tuple[HookedTransformer, dict[str, Any]]:
    """Train ``arch`` with the tiny recipe (``shape`` defaults to TINY_SHAPE, ``train_overrides``
    to TINY_TRAIN); returns (model, metrics).

    Deterministic on CPU for a given seed and thread count: the seed sets the model init
    (``cfg.seed``) and the trainer's data order.
    """
    tokenizer = load_tokenizer()
    rows = {
        split: tokenize_rows(load_corpus(split), tokenizer, TINY_CONTEXT_SIZE)
        for split in ("train", "validation")
    }
    shape = shape if shape is not None else TINY_SHAPE
    model = build_model(arch, ModelShape(**shape), len(tokenizer), seed=seed, tokenizer=tokenizer)
    overrides = train_overrides if train_overrides is not None else TINY_TRAIN
    cfg = TrainConfig(**overrides, seed=seed, progress=False)
    result = train(model, cfg, rows["train"], rows["validation"])
    metrics = {
        "arch": arch,
        "seed": seed,
        "n_params": count_params(model),
        "model_shape": shape,
        "context_size": TINY_CONTEXT_SIZE,
        "tokenizer": "bpe4096",
        "train_config": cfg.to_dict(),
        "val_loss": result.val_loss,
        "val_history": result.val_history,
        "train_losses": result.train_losses,
        "tokens_seen": result.tokens_seen,
        "tokens_per_s": result.tokens_per_s,
        "wall_time_s": result.wall_time_s,
        "validation_rows": int(rows["validation"].shape[0]),
        "torch_threads": torch.get_num_threads(),
    }
    return model.eval(), metrics

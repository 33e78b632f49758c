"""Shipped tiny pretrained models: LIMe-kv, LIMe residual-dynamic and their equal-size vanilla baseline.

All three are trained by ``scripts/train_tiny_lime.py`` with the repo's trainer (``lime_lens.train``)
on the embedded Austen corpus with the recipe below, and saved with
``lime_lens.serialization.save_model`` (safetensors + JSON) plus ``metrics.json`` (validation
loss, loss curves, parameter count, tokens, throughput). ``scripts/reproduce_lime.py`` uses the
same recipe, so seed 0 of its LIMe-kv, lime-residual-dynamic and vanilla runs are these models.
"""

from __future__ import annotations

import json
from typing import Any

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from lime_lens.assets.paths import DATA_DIR
from lime_lens.assets.tokenizer import load_tokenizer
from lime_lens.serialization import load_model

TINY_LIME_DIR = DATA_DIR / "tiny_lime"
TINY_VANILLA_DIR = DATA_DIR / "tiny_vanilla"
TINY_DYNAMIC_DIR = DATA_DIR / "tiny_dynamic"
METRICS_FILE = "metrics.json"

TINY_CONTEXT_SIZE = 64
"""Tokens per training/validation row (BOS + 63), BPE-4096."""
TINY_SHAPE = dict(
    n_layers=4, d_model=64, n_heads=4, n_key_value_heads=None, d_head=16, d_mlp=172, n_ctx=64
)
"""``lime_lens.train.architectures.ModelShape`` of the LIMe models (full multi-head attention, so
the kv router mixes 4 KV heads per layer). The vanilla baseline's ``d_mlp`` is matched by
:func:`matched_baseline_shape`."""
TINY_TRAIN = dict(
    max_steps=500, batch_size=16, lr=1e-3, router_lr=1e-2, warmup_steps=50, eval_interval=250
)
"""``lime_lens.train.TrainConfig`` overrides: the paper's optimiser (App. A), warmup scaled to 10%
of a 500-step run; everything else at the TrainConfig defaults. 512,000 training tokens."""
MATCHED_ARCHES = ("lime-kv", "lime-residual-dynamic")
"""The LIMe variants whose parameter counts the baseline is matched to."""


def matched_baseline_shape(
    d_vocab: int, lime_arches: tuple[str, ...] = MATCHED_ARCHES
) -> dict[str, Any]:
    """TINY_SHAPE with the vanilla ``d_mlp`` that minimises the worst relative parameter gap to
    every model in ``lime_arches`` (the router parameters are the only difference)."""
    from lime_lens.train.architectures import (
        ModelShape,
        build_model,
        count_params,
    )  # no import cycle

    def n_params(arch: str, d_mlp: int) -> int:
        return count_params(
            build_model(arch, ModelShape(**{**TINY_SHAPE, "d_mlp": d_mlp}), d_vocab)
        )

    targets = [n_params(arch, TINY_SHAPE["d_mlp"]) for arch in lime_arches]
    base = n_params("vanilla", TINY_SHAPE["d_mlp"])
    per_unit = n_params("vanilla", TINY_SHAPE["d_mlp"] + 1) - base  # parameters are linear in d_mlp

    def worst_gap(d_mlp: int) -> float:
        count = base + per_unit * (d_mlp - TINY_SHAPE["d_mlp"])
        return max(abs(count - t) / t for t in targets)

    best = min(range(TINY_SHAPE["d_mlp"], TINY_SHAPE["d_mlp"] + 64), key=worst_gap)
    return {**TINY_SHAPE, "d_mlp": best}


def train_tiny(
    arch: str, seed: int, shape: dict[str, Any] | None = None
) -> tuple[HookedTransformer, dict[str, Any]]:
    """Train ``arch`` with the tiny recipe (``shape`` defaults to TINY_SHAPE); returns (model, metrics).

    Deterministic on CPU for a given seed and thread count: the seed sets the model init
    (``cfg.seed``) and the trainer's data order.
    """
    from lime_lens.assets.corpus import load_corpus
    from lime_lens.train import TrainConfig, train
    from lime_lens.train.architectures import ModelShape, build_model, count_params
    from lime_lens.train.data import tokenize_rows

    tokenizer = load_tokenizer()
    rows = {
        split: tokenize_rows(load_corpus(split), tokenizer, TINY_CONTEXT_SIZE)
        for split in ("train", "validation")
    }
    shape = shape if shape is not None else TINY_SHAPE
    model = build_model(arch, ModelShape(**shape), len(tokenizer), seed=seed, tokenizer=tokenizer)
    cfg = TrainConfig(**TINY_TRAIN, seed=seed, progress=False)
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


def _require(path: Any) -> Any:
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"{path}: shipped tiny model is missing; rebuild it with `python scripts/train_tiny_lime.py`"
        )
    return path


def _load_lime(path: Any, device: str | torch.device) -> HookedTransformer:
    from lime_lens.model import HookedLIMeTransformer

    model = HookedLIMeTransformer.from_pretrained(
        _require(path), device=device, tokenizer=load_tokenizer()
    )
    return model.eval()


def load_tiny_lime_model(device: str | torch.device = "cpu") -> HookedTransformer:
    """The shipped tiny LIMe-kv model (``HookedLIMeTransformer``), BPE-4096 tokenizer attached."""
    return _load_lime(TINY_LIME_DIR, device)


def load_tiny_dynamic_model(device: str | torch.device = "cpu") -> HookedTransformer:
    """The shipped tiny ``lime-residual-dynamic`` model (``HookedLIMeTransformer`` with the v1
    dynamic router, for depthwise circuits), BPE-4096 tokenizer attached."""
    return _load_lime(TINY_DYNAMIC_DIR, device)


def load_tiny_baseline_model(device: str | torch.device = "cpu") -> HookedTransformer:
    """The shipped equal-size vanilla baseline (``HookedTransformer``), BPE-4096 tokenizer attached."""
    model = load_model(
        _require(TINY_VANILLA_DIR),
        HookedTransformer,
        HookedTransformerConfig,
        device,
        tokenizer=load_tokenizer(),
    )
    return model.eval()


def tiny_model_metrics(which: str = "lime") -> dict[str, Any]:
    """What the training script recorded for ``which`` in {"lime", "vanilla", "dynamic"}."""
    dirs = {"lime": TINY_LIME_DIR, "vanilla": TINY_VANILLA_DIR, "dynamic": TINY_DYNAMIC_DIR}
    if which not in dirs:
        raise ValueError(f"which must be one of {sorted(dirs)}, got {which!r}")
    return json.loads((_require(dirs[which]) / METRICS_FILE).read_text())

"""Shipped tiny pretrained models: LIMe-kv, LIMe residual-dynamic and their equal-size vanilla baseline.

All three are trained by ``scripts/train_tiny_lime.py`` with the repo's trainer (``lime_lens.train``)
on the embedded Austen corpus (recipe: ``lime_lens.train.tiny_recipe``), and saved with
``lime_lens.serialization.save_model`` (safetensors + JSON) plus ``metrics.json`` (validation
loss, loss curves, parameter count, tokens, throughput, and the recipe: ``model_shape``,
``train_config``, ``context_size``). This module only loads them.
"""

from __future__ import annotations

import json
from typing import Any

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from lime_lens.assets.paths import DATA_DIR
from lime_lens.assets.tokenizer import load_tokenizer
from lime_lens.serialization import load_model
from lime_lens.tl.vanilla_attention import use_fused_attention

TINY_LIME_DIR = DATA_DIR / "tiny_lime"
TINY_VANILLA_DIR = DATA_DIR / "tiny_vanilla"
TINY_DYNAMIC_DIR = DATA_DIR / "tiny_dynamic"
METRICS_FILE = "metrics.json"


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
    """The shipped equal-size vanilla baseline (``HookedTransformer``), BPE-4096 tokenizer attached,
    with fused attention where no pattern hook is attached (``lime_lens.tl.vanilla_attention``)."""
    model = load_model(
        _require(TINY_VANILLA_DIR),
        HookedTransformer,
        HookedTransformerConfig,
        device,
        tokenizer=load_tokenizer(),
    )
    return use_fused_attention(model).eval()


def tiny_model_metrics(which: str = "lime") -> dict[str, Any]:
    """What the training script recorded for ``which`` in {"lime", "vanilla", "dynamic"}."""
    dirs = {"lime": TINY_LIME_DIR, "vanilla": TINY_VANILLA_DIR, "dynamic": TINY_DYNAMIC_DIR}
    if which not in dirs:
        raise ValueError(f"which must be one of {sorted(dirs)}, got {which!r}")
    return json.loads((_require(dirs[which]) / METRICS_FILE).read_text())

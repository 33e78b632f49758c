"""The embedded default language model: a small LLaMA-style HookedTransformer trained on Austen.

Built by ``scripts/train_default_model.py`` with ``lime_lens.train`` and saved with
``lime_lens.serialization.save_model`` (safetensors + JSON) plus ``metrics.json``.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from lime_lens.assets.paths import DEFAULT_MODEL_DIR, require
from lime_lens.assets.tokenizer import load_tokenizer
from lime_lens.serialization import load_model
from lime_lens.tl.vanilla_attention import use_fused_attention

M = TypeVar("M", bound=HookedTransformer)
METRICS_FILE = "metrics.json"


def load_default_model(
    model_class: type[M] = HookedTransformer,  # type: ignore[assignment]
    device: str | torch.device = "cpu",
) -> M:
    """The default model as ``model_class`` (e.g. ``HookedSAETransformer``), BPE-4096 attached,
    with fused attention where no pattern hook is attached (``lime_lens.tl.vanilla_attention``)."""
    path = require(DEFAULT_MODEL_DIR, "default model")
    model = load_model(
        path, model_class, HookedTransformerConfig, device, tokenizer=load_tokenizer()
    )
    return use_fused_attention(model).eval()


def default_model_metrics() -> dict[str, Any]:
    """What ``scripts/train_default_model.py`` recorded: validation loss/perplexity, tokens, time."""
    return json.loads(
        require(DEFAULT_MODEL_DIR / METRICS_FILE, "default model metrics").read_text()
    )

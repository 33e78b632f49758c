"""Embedded offline assets: Austen corpus, GPT-2 and BPE-4096 tokenizers, default model, tiny LIMe models.

Everything loads from package data with ``HF_HUB_OFFLINE=1``; provenance in data/PROVENANCE.md.
``tokenize_rows`` cuts any text into the BOS-prefixed token rows the trainer and SAELens consume.
"""

from lime_lens.assets.corpus import load_corpus
from lime_lens.assets.dataset import load_token_dataset, tokenize_rows
from lime_lens.assets.models import default_model_metrics, load_default_model
from lime_lens.assets.pretrained import (
    load_tiny_baseline_model,
    load_tiny_dynamic_model,
    load_tiny_lime_model,
    tiny_model_metrics,
)
from lime_lens.assets.tokenizer import load_gpt2_tokenizer, load_tokenizer

__all__ = [
    "default_model_metrics",
    "load_corpus",
    "load_default_model",
    "load_gpt2_tokenizer",
    "load_tiny_baseline_model",
    "load_tiny_dynamic_model",
    "load_tiny_lime_model",
    "load_token_dataset",
    "load_tokenizer",
    "tiny_model_metrics",
    "tokenize_rows",
]

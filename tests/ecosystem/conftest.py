"""Shared builders for the ecosystem tests: the embedded default model and a hierarchical_topk SAE
trained on it for a few seconds (session-scoped, so every tool sees the same SAE)."""

from __future__ import annotations

import pytest
import torch
from route_helpers import ROUTE_HOOK


@pytest.fixture(scope="session")
def default_model():
    from sae_lens import HookedSAETransformer

    from lime_lens.assets import load_default_model

    return load_default_model(HookedSAETransformer)


@pytest.fixture(scope="session")
def token_rows():
    """BOS-prefixed validation rows of the embedded corpus, 64 tokens each."""
    from lime_lens.assets import load_token_dataset

    return load_token_dataset("validation", context_size=64)


@pytest.fixture(scope="session")
def sae_dir(tmp_path_factory, default_model):
    """A hierarchical_topk SAE (d_sae 256, K 16) on blocks.2.hook_resid_post, saved as SAELens does."""
    from sae_lens import LanguageModelSAERunnerConfig, LanguageModelSAETrainingRunner, LoggingConfig

    from lime_lens.assets import load_token_dataset
    from saelens_hierarchical import HierarchicalTopKTrainingSAEConfig

    out = tmp_path_factory.mktemp("sae")
    cfg = LanguageModelSAERunnerConfig(
        sae=HierarchicalTopKTrainingSAEConfig(d_in=default_model.cfg.d_model, d_sae=256, k=16),
        model_name="default",
        hook_name="blocks.2.hook_resid_post",
        dataset_path="in-memory",
        is_dataset_tokenized=True,
        context_size=64,
        training_tokens=32_768,
        train_batch_size_tokens=256,
        n_batches_in_buffer=8,
        store_batch_size_prompts=8,
        device="cpu",
        seed=0,
        lr=3e-3,
        logger=LoggingConfig(log_to_wandb=False),
        checkpoint_path=str(out / "checkpoints"),
        output_path=str(out / "sae"),
        n_checkpoints=0,
        streaming=False,
    )
    torch.manual_seed(0)
    LanguageModelSAETrainingRunner(
        cfg,
        override_dataset=load_token_dataset("train", context_size=64),
        override_model=default_model,
    ).run()
    return out / "sae"


@pytest.fixture(scope="session")
def route_model():
    from lime_lens.assets import load_tiny_dynamic_model

    return load_tiny_dynamic_model()


@pytest.fixture(scope="session")
def route_tokens(route_model):
    from lime_lens.assets import load_token_dataset

    return load_token_dataset("validation", context_size=64, tokenizer=route_model.tokenizer)


@pytest.fixture(scope="session")
def route_sae():
    """A TopK SAE (d_sae 32, K 4) on ``ROUTE_HOOK`` with random encoder and unit decoder rows:
    the tools only need latents that fire on some tokens and not on others."""
    from sae_lens import TopKSAE, TopKSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    torch.manual_seed(0)
    metadata = SAEMetadata(
        hook_name=ROUTE_HOOK, model_name="tiny-dynamic", prepend_bos=True, context_size=64
    )
    sae = TopKSAE(
        TopKSAEConfig(d_in=12, d_sae=32, k=4, rescale_acts_by_decoder_norm=True, metadata=metadata)
    )
    with torch.no_grad():
        sae.W_enc.normal_()
        sae.W_dec.div_(sae.W_dec.norm(dim=-1, keepdim=True))
    return sae

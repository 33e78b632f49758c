"""Tiny builders for the saelens_hierarchical core tests (config, SAE, loss, budget, runners).

Named ``htopk_helpers`` (not ``helpers``) because pytest puts every test folder on sys.path,
where two ``helpers`` modules would shadow each other.
"""

from __future__ import annotations

from typing import Any

import torch

# The tiny random model and token data are the comparison tests' builders, shared, not copied.
from comparison_helpers import CTX, D_MODEL, HOOK, tiny_model, token_dataset  # noqa: F401
from sae_lens import LanguageModelSAERunnerConfig, LoggingConfig
from sae_lens.saes.sae import TrainStepInput

from saelens_hierarchical import HierarchicalTopKTrainingSAE, HierarchicalTopKTrainingSAEConfig


def make_sae(
    d_in: int = 12, d_sae: int = 40, k: int = 6, seed: int = 0, dtype: str = "float32", **cfg: Any
) -> HierarchicalTopKTrainingSAE:
    """A hierarchical SAE with generic weights: unequal decoder norms, non-zero biases."""
    torch.manual_seed(seed)
    sae = HierarchicalTopKTrainingSAE(
        HierarchicalTopKTrainingSAEConfig(d_in=d_in, d_sae=d_sae, k=k, dtype=dtype, **cfg)
    )
    with torch.no_grad():
        sae.W_dec.mul_(torch.rand(d_sae, 1, dtype=sae.W_dec.dtype) * 2 + 0.5)
        sae.W_enc.add_(0.3 * torch.randn_like(sae.W_enc))
        sae.b_enc.normal_(0, 0.1)
        sae.b_dec.normal_(0, 0.5)
    return sae


def step_input(
    sae_in: torch.Tensor, dead: torch.Tensor | None = None, logging: bool = False
) -> TrainStepInput:
    return TrainStepInput(
        sae_in=sae_in,
        coefficients={},
        dead_neuron_mask=dead,
        n_training_steps=0,
        is_logging_step=logging,
    )


def loss_inputs(batch=7, d_in=5, d_sae=9, k=4, dtype=torch.float64, seed=0):
    """Random inputs of the loss functions, activations sorted descending."""
    g = torch.Generator().manual_seed(seed)
    sae_in = torch.randn(batch, d_in, generator=g, dtype=dtype, requires_grad=True)
    b_dec = torch.randn(d_in, generator=g, dtype=dtype, requires_grad=True)
    acts = torch.rand(batch, k, generator=g, dtype=dtype).sort(-1, descending=True).values
    acts.requires_grad_(True)
    indices = torch.stack([torch.randperm(d_sae, generator=g)[:k] for _ in range(batch)])
    W_dec = torch.randn(d_sae, d_in, generator=g, dtype=dtype, requires_grad=True)
    return sae_in, b_dec, acts, indices, W_dec


def loss_and_grads(fn, inputs, weights, upstream, **kwargs):
    """A loss path's (loss, sae_out, gradients of the inputs that require them) for the
    objective loss + <sae_out, upstream>, so the sae_out gradient path is checked too."""
    out = fn(*inputs, weights, **kwargs)
    grads = torch.autograd.grad(
        out.loss + (out.sae_out * upstream).sum(), [t for t in inputs if t.requires_grad]
    )
    return out.loss, out.sae_out, grads


def grads_of(module: torch.nn.Module, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gradients of ``loss`` for every parameter (zeros where it does not depend on one)."""
    params = dict(module.named_parameters())
    grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    return {
        n: torch.zeros_like(p) if g is None else g
        for (n, p), g in zip(params.items(), grads, strict=True)
    }


def runner_config(tmp_path: Any, **overrides: Any) -> LanguageModelSAERunnerConfig:
    """An offline LM-runner config for a tiny hierarchical SAE (no wandb, no downloads)."""
    kwargs: dict[str, Any] = dict(
        sae=HierarchicalTopKTrainingSAEConfig(d_in=D_MODEL, d_sae=32, k=4),
        model_name="tiny-random",
        hook_name=HOOK,
        dataset_path="in-memory",
        is_dataset_tokenized=True,
        context_size=CTX,
        training_tokens=64 * 20,
        train_batch_size_tokens=64,
        n_batches_in_buffer=8,
        store_batch_size_prompts=4,
        device="cpu",
        seed=0,
        logger=LoggingConfig(log_to_wandb=False),
        checkpoint_path=str(tmp_path / "checkpoints"),
        output_path=str(tmp_path / "output"),
        n_checkpoints=0,
        streaming=False,
    )
    kwargs.update(overrides)
    return LanguageModelSAERunnerConfig(**kwargs)

"""A HierarchicalTopK SAE on a LIMe route hook, trained with the stock SAELens runner, then swept.

The two halves of the library together: ``saelens_hierarchical`` registers the SAELens training
architecture ``"hierarchical_topk"``; a LIMe model is an ordinary ``HookedRootModule``, so the
stock ``LanguageModelSAETrainingRunner`` trains on any of its hooks via ``override_model``.
Because one HierarchicalTopK SAE serves every budget k <= K, :func:`sweep_route_sae` evaluates
the same SAE at several budgets (``saelens_hierarchical.sweep.sweep_budgets``: SAELens
``run_evals`` per budget on identical held-out tokens).

Default hook per router source (``LIMeRouter.source``, :func:`route_sae_hook`):
- kv (v2): ``blocks.{l}.attn.hook_v``, the MIXED values attention reads, [batch, pos, n_kv, d_head];
- residual (v1): ``blocks.{l}.lime.hook_kv_in``, the per-head route mixture that W_K/W_V project,
  [batch, pos, n_kv, d_model].
With ``head`` set, the SAE reads one KV head (``hook_head_index``, d_in = last dim); with
``head=None`` SAELens flattens the heads (d_in = n_kv * last dim).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from datasets import Dataset
from sae_lens import (
    SAE,
    LanguageModelSAERunnerConfig,
    LanguageModelSAETrainingRunner,
    LoggingConfig,
)
from transformer_lens import HookedTransformer

from lime_lens.analysis.routing import require_lime


def route_sae_hook(
    model: HookedTransformer, layer: int, head: int | None = 0
) -> tuple[str, int | None, int]:
    """``(hook_name, hook_head_index, d_in)`` of the default route hook at ``layer`` (module doc)."""
    router = require_lime(model)
    if not 1 <= layer < model.cfg.n_layers:
        raise ValueError(f"layer must be in [1, {model.cfg.n_layers - 1}] (layer 0 has no route)")
    n_kv = model.cfg.n_key_value_heads or model.cfg.n_heads
    if head is not None and not 0 <= head < n_kv:
        raise ValueError(f"head must be in [0, {n_kv - 1}] or None, got {head}")
    if router.source == "kv":
        name, width = f"blocks.{layer}.attn.hook_v", model.cfg.d_head
    else:
        name, width = f"blocks.{layer}.lime.hook_kv_in", model.cfg.d_model
    return name, head, width if head is not None else n_kv * width


def route_sae_runner_config(
    model: HookedTransformer,
    hook_name: str,
    d_in: int,
    *,
    hook_head_index: int | None = None,
    d_sae: int = 256,
    k: int = 16,
    training_tokens: int = 200_000,
    context_size: int = 128,
    train_batch_size_tokens: int = 1024,
    lr: float = 3e-3,
    output_path: str | None = None,
    seed: int = 42,
    **overrides: Any,
) -> LanguageModelSAERunnerConfig:
    """A stock runner config for a ``hierarchical_topk`` SAE on a pre-tokenized offline dataset.

    Rows of the dataset are expected to start with BOS already (``prepend_bos=False``), as
    ``lime_lens.assets.load_token_dataset`` produces; no W&B, no checkpoints. ``overrides`` are
    passed to ``LanguageModelSAERunnerConfig`` as-is.
    """
    from saelens_hierarchical import HierarchicalTopKTrainingSAEConfig  # registers the architecture
    from saelens_hierarchical.activations import mixing_buffer_batches

    lime_cfg: Any = model.cfg  # a LIMeConfig (HookedTransformer types it as its base config)
    kwargs: dict[str, Any] = dict(
        sae=HierarchicalTopKTrainingSAEConfig(d_in=d_in, d_sae=d_sae, k=k),
        model_name=f"lime-{lime_cfg.lime_mode}",  # a label only: the model is passed in
        hook_name=hook_name,
        hook_head_index=hook_head_index,
        dataset_path="",
        is_dataset_tokenized=True,
        streaming=False,
        context_size=context_size,
        prepend_bos=False,
        training_tokens=training_tokens,
        train_batch_size_tokens=train_batch_size_tokens,
        store_batch_size_prompts=8,
        n_batches_in_buffer=mixing_buffer_batches(train_batch_size_tokens, context_size),
        lr=lr,
        lr_warm_up_steps=0,
        device=str(model.cfg.device),
        seed=seed,
        logger=LoggingConfig(log_to_wandb=False),
        n_checkpoints=0,
        checkpoint_path=None,
        output_path=output_path,
        n_batches_for_norm_estimate=10,
        model_from_pretrained_kwargs={},  # the model is passed in; nothing is loaded
        verbose=False,
    )
    kwargs.update(overrides)
    return LanguageModelSAERunnerConfig(**kwargs)


def train_route_sae(
    model: HookedTransformer,
    dataset: Dataset,
    layer: int,
    head: int | None = 0,
    output_path: str | Path | None = None,
    **config_kwargs: Any,
) -> SAE:
    """Train a ``hierarchical_topk`` SAE on ``layer``'s route hook; return the saved inference SAE.

    The runner saves the inference SAE (a stock ``"topk"`` SAE with unit-norm decoder rows) to
    ``output_path`` (a temporary folder if None), and that is what is loaded and returned, so
    the result is exactly what a user of the saved SAE would get.
    """
    hook_name, head_index, d_in = route_sae_hook(model, layer, head)
    with tempfile.TemporaryDirectory() as tmp:
        out = str(output_path) if output_path is not None else tmp
        cfg = route_sae_runner_config(
            model, hook_name, d_in, hook_head_index=head_index, output_path=out, **config_kwargs
        )
        LanguageModelSAETrainingRunner(cfg, override_model=model, override_dataset=dataset).run()
        return SAE.load_from_disk(out, device=str(model.cfg.device))


def sweep_route_sae(
    sae: SAE,
    model: HookedTransformer,
    dataset: Dataset,
    budgets: list[int],
    context_size: int = 128,
    n_batches: int = 4,
    batch_size_prompts: int = 8,
) -> pd.DataFrame:
    """Evaluate ``sae`` at each budget k on the same held-out rows of ``dataset``.

    Columns are those of ``saelens_hierarchical.sweep.COLUMNS`` (budget, l0, explained_variance,
    mse, ce_loss_score, kl_div_score, ...); ``ce_loss_score`` splices the SAE into the route.
    """
    from saelens_hierarchical.sweep import SweepConfig, sweep_budgets

    cfg = SweepConfig(
        n_batches=n_batches, batch_size_prompts=batch_size_prompts, context_size=context_size
    )
    return sweep_budgets(
        sae,
        model,
        dataset,
        budgets,
        method=f"hierarchical_topk@{sae.cfg.metadata.hook_name}",
        cfg=cfg,
    )

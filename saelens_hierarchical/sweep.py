"""Evaluate one SAE at a list of budgets k with SAELens's ``run_evals``; a tidy table per budget.

Every budget sees the IDENTICAL held-out tokens. SAELens's ``ActivationsStore.reset_input_dataset``
does not rewind (it resets ``iterable_dataset``, but ``get_batch_tokens`` reads
``iterable_sequences``), so each budget gets a freshly built store over the same dataset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from datasets import Dataset
from sae_lens import SAE, ActivationsStore
from sae_lens.evals import EvalConfig, run_evals
from sae_lens.training.activation_scaler import ActivationScaler
from transformer_lens import HookedTransformer

from saelens_hierarchical.budget import at_budget
from saelens_hierarchical.table import save_table

# Column order of the tidy table; per-budget rows share every column.
COLUMNS = [
    "method",
    "budget",
    "trained_k",
    "l0",
    "explained_variance",
    "mse",
    "cossim",
    "ce_loss_score",
    "ce_loss_with_sae",
    "ce_loss_without_sae",
    "kl_div_score",
    "kl_div_with_sae",
    "dead_latents",
    "dense_latents",
    "d_sae",
    "n_tokens",
]
# The run_evals metrics kept; CE/KL entries are NaN when compute_ce_loss is off.
_RUN_EVALS_KEYS = COLUMNS[3:12]


@dataclass
class SweepConfig:
    """How much held-out data each budget is evaluated on, and what counts as dense."""

    n_batches: int = 4
    """Batches of prompts for the spliced-in CE/KL metrics and, separately, for EV/MSE/L0."""

    batch_size_prompts: int = 8
    """Prompts (rows of the token dataset) per batch."""

    context_size: int = 128
    """Tokens per prompt; the token dataset's rows must be at least this long."""

    compute_ce_loss: bool = True
    """Splice the SAE into the model and report CE-loss score and KL (costs full forwards)."""

    dense_threshold: float = 0.1
    """A latent firing on more than this fraction of evaluated tokens counts as dense."""

    exclude_special_tokens: bool | None = None
    """Drop BOS/EOS/PAD positions from the metrics; None means "if the model has a tokenizer"."""

    def __post_init__(self) -> None:
        for name in ("n_batches", "batch_size_prompts", "context_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.dense_threshold <= 1.0:
            raise ValueError(f"dense_threshold must be in (0, 1], got {self.dense_threshold}")


def token_store(
    model: HookedTransformer, sae: SAE[Any], dataset: Dataset, cfg: SweepConfig
) -> ActivationsStore:
    """A fresh SAELens store over ``dataset`` at the SAE's hook: it always starts at row 0."""
    hook_name = sae.cfg.metadata.hook_name
    if hook_name is None:
        raise ValueError("sae.cfg.metadata.hook_name is None; set it to the hook the SAE reads")
    return ActivationsStore(
        model=model,
        dataset=dataset,
        streaming=False,
        hook_name=hook_name,
        hook_head_index=sae.cfg.metadata.hook_head_index,
        context_size=cfg.context_size,
        d_in=sae.cfg.d_in,
        n_batches_in_buffer=2,
        total_training_tokens=len(dataset),  # only read for an epoch warning
        store_batch_size_prompts=cfg.batch_size_prompts,
        train_batch_size_tokens=cfg.batch_size_prompts * cfg.context_size,
        prepend_bos=False,  # rows are already BOS-prefixed token ids
        normalize_activations="none",
        device=torch.device(str(sae.device)),
        dtype=str(sae.dtype).removeprefix("torch."),
    )


def evaluate(
    sae: SAE[Any], model: HookedTransformer, dataset: Dataset, cfg: SweepConfig
) -> dict[str, float]:
    """One row of metrics for ``sae`` as it is now configured, on the first held-out rows."""
    exclude = cfg.exclude_special_tokens
    if exclude is None:
        exclude = getattr(model, "tokenizer", None) is not None
    eval_cfg = EvalConfig(
        batch_size_prompts=cfg.batch_size_prompts,
        n_eval_reconstruction_batches=cfg.n_batches,
        n_eval_sparsity_variance_batches=cfg.n_batches,
        compute_kl=cfg.compute_ce_loss,
        compute_ce_loss=cfg.compute_ce_loss,
        compute_sparsity_metrics=True,
        compute_variance_metrics=True,
        compute_featurewise_density_statistics=True,
    )
    with torch.no_grad():
        metrics, feature_metrics = run_evals(
            sae,
            token_store(model, sae, dataset, cfg),
            model,
            ActivationScaler(),
            eval_cfg,
            exclude_special_tokens=exclude,
        )
    flat = {k: v for group in metrics.values() for k, v in group.items()}
    density = torch.tensor(feature_metrics["feature_density"])
    row = {c: flat.get(c, float("nan")) for c in _RUN_EVALS_KEYS}
    row["dead_latents"] = int((density == 0).sum())
    row["dense_latents"] = int((density > cfg.dense_threshold).sum())
    row["d_sae"] = sae.cfg.d_sae
    row["n_tokens"] = flat["total_tokens_eval_sparsity_variance"]
    return row


def sweep_budgets(
    sae: SAE[Any],
    model: HookedTransformer,
    dataset: Dataset,
    budgets: list[int] | None,
    *,
    method: str,
    trained_k: int | None = None,
    cfg: SweepConfig | None = None,
    out_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Evaluate ``sae`` at each budget (TopK-family SAEs) or, with ``budgets=None``, as it is.

    Budgets are applied with ``saelens_hierarchical.at_budget`` (k <= the SAE's trained K).
    ``trained_k`` labels the rows; it defaults to the SAE's ``cfg.k`` (JumpReLU SAEs have none).
    Returns one row per budget with the columns in ``COLUMNS``; saves ``sweep.json`` and
    ``sweep.csv`` under ``out_dir`` when given.
    """
    cfg = cfg or SweepConfig()
    trained_k = trained_k or getattr(sae.cfg, "k", None)
    rows = []
    if budgets is None:
        rows.append({"budget": trained_k, **evaluate(sae, model, dataset, cfg)})
    else:
        if getattr(sae.cfg, "k", None) is None:
            raise ValueError(f"budgets need a TopK-family SAE; got {sae.cfg.architecture()!r}")
        for k in budgets:
            with at_budget(sae, k):
                rows.append({"budget": k, **evaluate(sae, model, dataset, cfg)})
    table = pd.DataFrame([{"method": method, "trained_k": trained_k, **r} for r in rows])
    table = table[[c for c in COLUMNS if c in table.columns]]
    if out_dir is not None:
        save_table(table, out_dir, "sweep", extra={"sweep_config": asdict(cfg)})
    return table

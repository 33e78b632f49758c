"""SAEBench ``core`` and ``meta_structure`` per budget, next to SAELens's own ``run_evals``.

SAEBench's ``multiple_evals`` loads the model by name and returns ``[]`` for a custom model, so
this calls its ``core.main.run_evals`` directly, on the SAE prepared by its own loader
(``general_utils.load_and_format_sae``, which copies ``cfg.metadata`` fields onto ``cfg``).
Both tools are given a fresh activation store per budget, so they read the same tokens.

The two agree on L0, CE-loss score and KL. They define two metrics differently
(``explained_variance_definitions`` reproduces each one from the activations):
- ``mse``: SAELens reports E_token ||x - x_hat||^2; SAEBench divides each token's squared error
  by the number of unmasked tokens in its batch before averaging, so its value is SAELens's
  divided by that count (not a per-element MSE).
- ``explained_variance``: SAELens uses 1 - E||x - x_hat||^2 / (E||x||^2 - ||E x||^2), the
  variance about the mean; SAEBench subtracts (mean_d E[x_d^2])^2 instead of ||E x||^2, which is
  not the variance about the mean (its ``explained_variance_legacy``, a per-token ratio, is equal
  in both tools).
``meta_structure`` trains a small BatchTopK SAE on the decoder rows; the decoder does not depend
on the budget, so it is computed once and repeated on every budget's row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from datasets import Dataset
from jaxtyping import Float
from sae_bench.evals.core.eval_config import CoreEvalConfig
from sae_bench.evals.core.main import run_evals as saebench_run_evals
from sae_bench.evals.meta_structure.eval_config import MetaStructureEvalConfig
from sae_bench.evals.meta_structure.main import run_eval_single_sae
from sae_bench.sae_bench_utils.general_utils import load_and_format_sae
from sae_lens import SAE, ActivationsStore, HookedSAETransformer
from sae_lens.evals import EvalConfig
from sae_lens.evals import run_evals as saelens_run_evals
from sae_lens.training.activation_scaler import ActivationScaler
from torch import Tensor

from saelens_hierarchical.budget import at_budget
from saelens_hierarchical.ecosystem.sae_folder import check_budgets

AGREED = ("l0", "ce_loss_score", "kl_div_score")
"""Metrics both tools compute the same way (cross-checked per budget)."""


@dataclass
class SAEBenchConfig:
    """How many tokens each tool evaluates, and the meta_structure training length."""

    n_batches: int = 4
    """Evaluation batches for reconstruction (CE, KL) and for sparsity/variance."""

    batch_size_prompts: int = 8
    """Token rows per batch."""

    context_size: int = 64
    """Tokens per row."""

    meta_structure_steps: int = 300
    """Training steps of SAEBench's meta-SAE on the decoder rows (SAEBench default 1500)."""

    def __post_init__(self) -> None:
        for name in ("n_batches", "batch_size_prompts", "context_size", "meta_structure_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"SAEBenchConfig.{name} must be >= 1; got {getattr(self, name)}")


def _flat(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for group in metrics.values() for k, v in group.items()}


def _store(model: HookedSAETransformer, sae: SAE, data: Dataset, cfg: SAEBenchConfig):
    return ActivationsStore.from_sae(
        model=model,
        sae=sae,
        dataset=data,
        streaming=False,
        context_size=cfg.context_size,
        store_batch_size_prompts=cfg.batch_size_prompts,
        n_batches_in_buffer=cfg.n_batches,
        device=str(sae.device),
    )


def core_metrics(
    sae: SAE, model: HookedSAETransformer, data: Dataset, cfg: SAEBenchConfig
) -> tuple[dict[str, float], dict[str, float]]:
    """(SAEBench core, SAELens run_evals) metrics of ``sae`` at its current budget."""
    flags = dict(
        compute_kl=True,
        compute_ce_loss=True,
        compute_l2_norms=True,
        compute_sparsity_metrics=True,
        compute_variance_metrics=True,
    )
    sizes = dict(
        batch_size_prompts=cfg.batch_size_prompts,
        n_eval_reconstruction_batches=cfg.n_batches,
        n_eval_sparsity_variance_batches=cfg.n_batches,
    )
    bench_cfg = CoreEvalConfig(
        model_name=model.cfg.model_name,
        context_size=cfg.context_size,
        compute_featurewise_density_statistics=False,
        compute_featurewise_weight_based_metrics=False,
        exclude_special_tokens_from_reconstruction=True,
        **flags,
        **sizes,
    )
    special = {model.tokenizer.bos_token_id} if model.tokenizer is not None else set()
    bench, _ = saebench_run_evals(
        sae, _store(model, sae, data, cfg), model, bench_cfg, ignore_tokens=special
    )
    lens, _ = saelens_run_evals(
        sae, _store(model, sae, data, cfg), model, ActivationScaler(), EvalConfig(**flags, **sizes)
    )
    return _flat(bench), _flat(lens)


def saebench_by_budget(
    sae: SAE,
    model: HookedSAETransformer,
    data: Dataset,
    budgets: Sequence[int],
    cfg: SAEBenchConfig | None = None,
) -> pd.DataFrame:
    """One row per budget: SAEBench core (``saebench_*``), SAELens ``run_evals``
    (``saelens_*``) and SAEBench meta_structure (``meta_structure_*``) metrics."""
    cfg = cfg or SAEBenchConfig()
    ks = check_budgets(sae, budgets)
    _, sae, _ = load_and_format_sae("custom", sae, str(sae.device))  # type: ignore[misc]
    meta = run_eval_single_sae(
        "custom",
        "custom_sae",
        sae,
        MetaStructureEvalConfig(train_steps=cfg.meta_structure_steps),
        str(sae.device),
    ).eval_result_metrics.meta_structure
    rows = []
    for k in ks:
        with at_budget(sae, k):  # type: ignore[arg-type]
            bench, lens = core_metrics(sae, model, data, cfg)
        rows.append(
            {"budget": k}
            | {f"saebench_{n}": v for n, v in bench.items()}
            | {f"saelens_{n}": v for n, v in lens.items()}
            | {
                "meta_structure_decoder_fve": meta.decoder_fraction_variance_explained,
                "meta_structure_mse": meta.final_reconstruction_mse,
            }
        )
    return pd.DataFrame(rows)


def explained_variance_definitions(
    x: Float[Tensor, "token d_in"], x_hat: Float[Tensor, "token d_in"]
) -> dict[str, float]:
    """Explained variance as SAELens (about the mean) and as SAEBench core compute it."""
    x, x_hat = x.double(), x_hat.double()
    residual = (x - x_hat).pow(2).sum(-1).mean()
    mean_square = x.pow(2).sum(-1).mean()
    about_mean = mean_square - x.mean(0).pow(2).sum()
    saebench = mean_square - x.pow(2).mean(0).mean().pow(2)
    return {
        "saelens": float(1 - residual / about_mean),
        "saebench": float(1 - residual / saebench),
    }


def check_agreement(table: pd.DataFrame, atol: float = 1e-4) -> None:
    """AssertionError naming the metric and budget where SAEBench and SAELens disagree."""
    for name in AGREED:
        bench = torch.tensor(table[f"saebench_{name}"].to_numpy())
        lens = torch.tensor(table[f"saelens_{name}"].to_numpy())
        torch.testing.assert_close(bench, lens, atol=atol, rtol=0, msg=_per_budget(name))


def _per_budget(name: str) -> Callable[[str], str]:
    """assert_close's message callback, naming the metric."""
    return lambda m: f"{name} per budget: {m}"

"""Adaptive per-token budgets of one HierarchicalTopK SAE, evaluated like the fixed budgets.

For each rule of ``saelens_hierarchical.adaptive`` and each target mean L0, the rule is
calibrated on activations of rows the evaluation does not read, then the SAE, with its encode
replaced by the rule, goes through the same ``sweep.evaluate`` (SAELens ``run_evals``: EV, CE-loss
score, L0) on the same held-out rows as the fixed-budget sweep. The per-token budget
distribution and, for the threshold rule, its uncapped JumpReLU export are measured on the
evaluated rows' activations.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import pandas as pd
import torch
from datasets import Dataset
from sae_lens import SAE
from transformer_lens import HookedTransformer

from saelens_hierarchical.adaptive import (
    AnyTopK,
    ErrorRule,
    MarginalRule,
    Rule,
    ThresholdRule,
    adaptive_encode,
    calibrate,
)
from saelens_hierarchical.adaptive_export import cap_report, to_jumprelu
from saelens_hierarchical.budget import max_budget
from saelens_hierarchical.sweep import SweepConfig, evaluate

ADAPTIVE_RULES: dict[str, type] = {
    "adaptive_threshold": ThresholdRule,
    "adaptive_error": ErrorRule,
    "adaptive_marginal": MarginalRule,
}
"""Method name in the comparison table -> the rule it calibrates."""


class RowSplit(NamedTuple):
    """The rows an adaptive sweep evaluates on and the rows it calibrates on (disjoint)."""

    evaluation: Dataset
    """Rows 0..2n-1: all ``run_evals`` is given (n = n_batches x batch_size_prompts)."""
    calibration: Dataset
    """Rows 2n..3n-1: the activations ``calibrate`` sees."""


def split_rows(dataset: Dataset, cfg: SweepConfig) -> RowSplit:
    """Evaluation and calibration rows as separate datasets.

    ``run_evals`` reads 2n rows (n for the spliced CE/KL metrics, n for EV and L0). Handing it a
    dataset of only those rows, rather than relying on the store reading rows in order, keeps
    the calibration rows out of every metric whatever order the store reads in.
    """
    n = cfg.n_batches * cfg.batch_size_prompts
    if len(dataset) < 3 * n:
        raise ValueError(f"dataset has {len(dataset)} rows; adaptive sweeps need 3 x {n}")
    return RowSplit(dataset.select(range(2 * n)), dataset.select(range(2 * n, 3 * n)))


@contextmanager
def adaptive_view(sae: AnyTopK, rule: Rule) -> Iterator[AnyTopK]:
    """``sae.encode`` follows ``rule`` (any leading dims) inside the block; restored on exit."""

    def encode(x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        return adaptive_encode(sae, flat, rule).feature_acts.reshape(*x.shape[:-1], -1)

    sae.encode = encode  # type: ignore[method-assign]
    try:
        yield sae
    finally:
        del sae.encode


def hook_activations(
    model: HookedTransformer, rows: Dataset, hook: str, context_size: int
) -> torch.Tensor:
    """``[tokens, d_model]`` at ``hook`` for ``rows``, BOS positions (column 0) left out as the
    sweep leaves them out."""
    # rows may hold lists or tensors (SAELens's store sets a torch format on the dataset)
    tokens = torch.stack([torch.as_tensor(r) for r in rows["tokens"]])[:, :context_size]
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=hook)
    return cache[hook][:, 1:].reshape(-1, cache[hook].shape[-1])


def budget_distribution(k: torch.Tensor, big_k: int) -> dict[str, float]:
    """Summary of per-token budgets: quantiles and the shares at 0 and at K."""
    q = torch.quantile(k.float(), torch.tensor([0.1, 0.5, 0.9]))
    return {
        "k_p10": float(q[0]),
        "k_p50": float(q[1]),
        "k_p90": float(q[2]),
        "k_max": int(k.max()),
        "share_k0": float((k == 0).float().mean()),
        "share_kK": float((k == big_k).float().mean()),
    }


def sweep_adaptive(
    sae: SAE[Any],
    model: HookedTransformer,
    dataset: Dataset,
    targets: list[int],
    cfg: SweepConfig,
    prefix: str = "adaptive",
) -> pd.DataFrame:
    """One row per (rule, target mean L0): ``sweep.evaluate`` metrics plus budget statistics.

    ``split_rows``: ``run_evals`` gets rows 0..2n-1 only, calibration uses rows 2n..3n-1, and the
    budget statistics use the evaluated rows' activations. Methods are named ``{prefix}_{rule}``
    (``adaptive_threshold`` ...; the TopK control uses another prefix).
    """
    hook = str(sae.cfg.metadata.hook_name)
    rows_of = split_rows(dataset, cfg)
    held_out = hook_activations(model, rows_of.evaluation, hook, cfg.context_size)
    calibration = hook_activations(model, rows_of.calibration, hook, cfg.context_size)
    big_k = max_budget(sae)  # type: ignore[arg-type]
    rows = []
    for method, rule_type in ADAPTIVE_RULES.items():
        for target in targets:
            rule = calibrate(sae, calibration, target, rule_type)  # type: ignore[arg-type]
            with adaptive_view(sae, rule):  # type: ignore[arg-type]
                name = method.replace("adaptive", prefix, 1)
                row = {"method": name, "budget": target, "trained_k": big_k}
                row.update(evaluate(sae, model, rows_of.evaluation, cfg))
            k = adaptive_encode(sae, held_out, rule).k  # type: ignore[arg-type]
            row.update(budget_distribution(k, big_k))
            row["rule_parameter"] = float(rule[0])
            if isinstance(rule, ThresholdRule):
                row.update(_export_report(sae, rule, held_out))
            rows.append(row)
    return pd.DataFrame(rows)


def _export_report(sae: SAE[Any], rule: ThresholdRule, held_out: torch.Tensor) -> dict[str, float]:
    """The threshold rule's uncapped JumpReLU export against the capped rule on ``held_out``."""
    report = cap_report(sae, to_jumprelu(sae, rule), held_out, rule)  # type: ignore[arg-type]
    return {
        "jumprelu_share_over_k": report.fraction_over_k,
        "jumprelu_l0": report.mean_l0_uncapped,
        "capped_l0": report.mean_l0_capped,
        "jumprelu_explained_variance": report.explained_variance_uncapped,
        "capped_explained_variance": report.explained_variance_capped,
    }

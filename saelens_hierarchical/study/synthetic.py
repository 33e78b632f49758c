"""The same comparison on SAELens's ground-truth benchmark (``sae_lens.synthetic``).

Synthetic activations are sums of known feature vectors with hierarchical (parent/child,
partly mutually exclusive) firing and Zipfian firing probabilities, so an SAE can be scored
against the truth: MCC (Hungarian-matched |cos| of decoder rows to true features, a property
of ``W_dec`` alone), per-latent F1 as a feature detector, and explained variance.

``small_config()`` runs in minutes on CPU. ``paper_scale_config()`` documents SynthSAEBench
(16,384 features, d=768, hierarchy of 128 roots x branching 4 x depth 3; SAE width 4096,
200M samples, lr 3e-4, batch 1024); it needs a GPU for the orthogonalisation and the samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from sae_lens import SAE
from sae_lens.synthetic import (
    HierarchyConfig,
    SyntheticModel,
    SyntheticModelConfig,
    ZipfianFiringProbabilityConfig,
    eval_sae_on_synthetic_data,
)

from saelens_hierarchical.budget import at_budget
from saelens_hierarchical.study.baselines import BaselineConfig, train_on_provider
from saelens_hierarchical.study.comparison import budget_differences
from saelens_hierarchical.study.frontier import plot_frontier
from saelens_hierarchical.study.peers import PEERS, method_of, trained_k_of
from saelens_hierarchical.study.result import ComparisonResult
from saelens_hierarchical.table import save_table

HOOK = "synthetic"  # the metadata hook name SAEs trained here carry


@dataclass
class SyntheticComparisonConfig:
    """A ground-truth comparison: the synthetic model, the SAEs, and the evaluation sample."""

    model: SyntheticModelConfig
    """The synthetic activation model (features, hierarchy, firing probabilities)."""

    baselines: BaselineConfig
    """The SAEs to train; ``training_tokens`` counts synthetic samples."""

    eval_samples: int = 20_000
    """Held-out samples per evaluation; every method and budget sees the same ones."""

    eval_seed: int = 1234
    """Seed of the held-out sample (training samples come from ``baselines.seed``)."""

    def __post_init__(self) -> None:
        if self.eval_samples < 1:
            raise ValueError(f"eval_samples must be >= 1, got {self.eval_samples}")


def small_config() -> SyntheticComparisonConfig:
    """~1k features in 128 dims, true L0 ~ 10: minutes on CPU."""
    model = SyntheticModelConfig(
        num_features=1024,
        hidden_dim=128,
        firing_probability=ZipfianFiringProbabilityConfig(
            exponent=0.7, max_prob=0.3, min_prob=0.004
        ),
        hierarchy=HierarchyConfig(
            total_root_nodes=32,
            branching_factor=4,
            max_depth=2,
            mutually_exclusive_portion=0.5,
            compensate_probabilities=True,
        ),
        std_firing_magnitudes=0.15,
        bias=False,
        seed=0,
    )
    return SyntheticComparisonConfig(
        model=model,
        baselines=BaselineConfig(
            d_sae=256,
            K=16,
            budgets=[2, 4, 8, 16],
            training_tokens=600_000,
            train_batch_size_tokens=1024,
            lr=3e-3,
            dead_feature_window=150,
        ),
    )


def paper_scale_config() -> SyntheticComparisonConfig:
    """SynthSAEBench scale (documented, not run here): GPU, about 200M samples per SAE."""
    model = SyntheticModelConfig(
        num_features=16_384,
        hidden_dim=768,
        firing_probability=ZipfianFiringProbabilityConfig(
            exponent=0.5, max_prob=0.3, min_prob=0.001
        ),
        hierarchy=HierarchyConfig(
            total_root_nodes=128,
            branching_factor=4,
            max_depth=3,
            mutually_exclusive_portion=0.5,
            compensate_probabilities=True,
        ),
        std_firing_magnitudes=0.15,
        bias=False,
        seed=0,
    )
    return SyntheticComparisonConfig(
        model=model,
        baselines=BaselineConfig(
            d_sae=4096,
            K=128,
            budgets=[8, 16, 25, 32, 64, 128],
            training_tokens=200_000_000,
            train_batch_size_tokens=1024,
            lr=3e-4,
            dead_feature_window=1000,
        ),
        eval_samples=500_000,
    )


def sample_stream(model: SyntheticModel, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """Endless training batches ``[batch_size, hidden_dim]`` from a seeded generator state."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        state = torch.get_rng_state()
    while True:
        with torch.random.fork_rng():
            torch.set_rng_state(state)
            batch = model.sample(batch_size)
            state = torch.get_rng_state()
        yield batch


def evaluate(
    sae: SAE[Any], model: SyntheticModel, cfg: SyntheticComparisonConfig
) -> dict[str, float]:
    """Ground-truth metrics on the held-out sample (identical for every call: seeded)."""
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(cfg.eval_seed)
        res = eval_sae_on_synthetic_data(
            sae,
            model.feature_dict,
            model.activation_generator,
            num_samples=cfg.eval_samples,
            batch_size=min(cfg.eval_samples, 5000),
        )
    c = res.classification
    return {
        "l0": res.sae_l0,
        "true_l0": res.true_l0,
        "explained_variance": res.explained_variance,
        "mcc": res.mcc,
        "f1": c.f1_score,
        "precision": c.precision,
        "recall": c.recall,
        "uniqueness": res.uniqueness,
        "dead_latents": res.dead_latents,
        "shrinkage": res.shrinkage,
    }


def sweep_synthetic(
    paths: dict[str, Path], model: SyntheticModel, cfg: SyntheticComparisonConfig
) -> pd.DataFrame:
    """Swept SAEs at every budget, per-budget peers at their own k (as the peer table says)."""
    rows = []
    for path in paths.values():
        sae = SAE.load_from_disk(path)
        method, trained_k = method_of(sae.cfg), trained_k_of(sae.cfg)
        budgets = PEERS[method].eval_budgets(cfg.baselines.budgets)
        if budgets is not None:
            for k in budgets:
                with at_budget(sae, k):
                    rows.append(
                        {
                            "method": method,
                            "budget": k,
                            "trained_k": trained_k,
                            **evaluate(sae, model, cfg),
                        }
                    )
        else:
            rows.append(
                {
                    "method": method,
                    "budget": trained_k,
                    "trained_k": trained_k,
                    **evaluate(sae, model, cfg),
                }
            )
    return pd.DataFrame(rows)


def run_synthetic_comparison(
    cfg: SyntheticComparisonConfig, out_dir: str | Path
) -> ComparisonResult:
    """Train every peer on the same synthetic samples, evaluate against the truth, plot, diff."""
    out = Path(out_dir)
    model = SyntheticModel(cfg.model)
    stream = sample_stream(model, cfg.baselines.train_batch_size_tokens, cfg.baselines.seed)
    paths = train_on_provider(cfg.baselines, stream, cfg.model.hidden_dim, HOOK, out / "saes")
    table = sweep_synthetic(paths, model, cfg)
    csv, js = save_table(table, out, "synthetic", extra={"config": asdict(cfg)})
    diffs = pd.concat(
        [budget_differences(table, m) for m in ("explained_variance", "mcc", "f1")],
        ignore_index=True,
    )
    diff_csv, _ = save_table(diffs, out, "synthetic_differences")
    plots = plot_frontier(
        table,
        out,
        metrics=("explained_variance", "mcc", "f1"),
        title="Synthetic ground truth: HierarchicalTopK vs peers",
        stem="synthetic_frontier",
    )
    return ComparisonResult(
        table=table,
        differences=diffs,
        table_csv=csv,
        table_json=js,
        differences_csv=diff_csv,
        plot_png=plots["png"],
        plot_html=plots["html"],
        sae_dirs=paths,
    )

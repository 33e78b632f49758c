"""One call runs the whole comparison: train peers on identical activations, sweep, plot, diff.

The claim under test (Balagansky et al. 2025, abstract and Fig. 3): one HierarchicalTopK SAE
trained at K is at least as good at every budget k <= K as a TopK SAE trained at exactly k, i.e.
``EV(hierarchical at k) - EV(TopK trained at k) >= 0``. ``budget_differences`` computes that
difference per budget; ``run_comparison`` writes the table, the differences and the frontier plot.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
from datasets import Dataset
from sae_lens import SAE
from transformer_lens import HookedTransformer

from saelens_hierarchical.study.adaptive_budgets import sweep_adaptive
from saelens_hierarchical.study.baselines import BaselineConfig, train_on_model
from saelens_hierarchical.study.frontier import plot_frontier
from saelens_hierarchical.study.peers import PEERS, method_of, sae_name, trained_k_of
from saelens_hierarchical.study.result import ComparisonResult
from saelens_hierarchical.sweep import SweepConfig, sweep_budgets
from saelens_hierarchical.table import save_table


@dataclass
class ComparisonConfig:
    """A full comparison on a language model: what to train, where to hook, how to evaluate."""

    baselines: BaselineConfig
    """The SAEs to train (hierarchical_topk at K and its peers) and their shared optimiser."""

    sweep: SweepConfig = field(default_factory=SweepConfig)
    """How each SAE is evaluated on held-out tokens."""

    hook_name: str | None = None
    """Hook the SAEs read; None means the residual stream entering the middle block."""

    context_size: int = 128
    """Tokens per training/eval row."""

    adaptive_targets: list[int] | None = None
    """Target mean L0s for the hierarchical SAE's adaptive per-token budgets (each rule of
    ``saelens_hierarchical.adaptive``), evaluated on the same rows; None: not evaluated."""

    def __post_init__(self) -> None:
        targets = self.adaptive_targets or []
        if any(not 1 <= t <= self.baselines.K for t in targets):
            raise ValueError(
                f"adaptive_targets must lie in 1..K={self.baselines.K}, got {self.adaptive_targets}"
            )
        if targets and "hierarchical_topk" not in self.baselines.methods:
            raise ValueError("adaptive_targets need 'hierarchical_topk' in baselines.methods")
        if self.context_size != self.sweep.context_size:
            raise ValueError(
                f"context_size ({self.context_size}) must equal sweep.context_size "
                f"({self.sweep.context_size}): training and evaluation use the same rows"
            )


def middle_resid_hook(model: HookedTransformer) -> str:
    """The residual stream entering the middle block, e.g. ``blocks.2.hook_resid_pre`` of 4."""
    return f"blocks.{model.cfg.n_layers // 2}.hook_resid_pre"


def sweep_trained(
    paths: dict[str, Path],
    model: HookedTransformer,
    dataset: Dataset,
    budgets: list[int],
    cfg: SweepConfig,
) -> pd.DataFrame:
    """Load each saved SAE with plain SAELens and evaluate it as its peer-table entry says:
    swept SAEs at every budget, per-budget peers at their own operating point. Method and
    trained k come from each SAE's metadata."""
    tables = []
    for path in paths.values():
        sae = SAE.load_from_disk(path)
        method = method_of(sae.cfg)
        tables.append(
            sweep_budgets(
                sae,
                model,
                dataset,
                PEERS[method].eval_budgets(budgets),
                method=method,
                trained_k=trained_k_of(sae.cfg),
                cfg=cfg,
            )
        )
    return pd.concat(tables, ignore_index=True)


def budget_differences(
    table: pd.DataFrame,
    metric: str = "explained_variance",
    method: str = "hierarchical_topk",
    baseline: str = "topk",
) -> pd.DataFrame:
    """Per budget k: ``metric(method swept to k) - metric(baseline trained at k)``."""
    ours = table[table["method"] == method].set_index("budget")[metric]
    theirs = table[table["method"] == baseline].set_index("budget")[metric]
    budgets = sorted(set(ours.index) & set(theirs.index))
    return pd.DataFrame(
        {
            "budget": budgets,
            f"{method}": [float(ours[k]) for k in budgets],
            f"{baseline}": [float(theirs[k]) for k in budgets],
            "difference": [float(ours[k] - theirs[k]) for k in budgets],
            "metric": metric,
        }
    )


def run_comparison(
    model: HookedTransformer,
    train_dataset: Dataset,
    eval_dataset: Dataset,
    cfg: ComparisonConfig,
    out_dir: str | Path,
) -> ComparisonResult:
    """Train, sweep, plot and diff; returns the tables and the paths of everything written."""
    out = Path(out_dir)
    hook = cfg.hook_name or middle_resid_hook(model)
    paths = train_on_model(
        cfg.baselines, model, train_dataset, hook, out / "saes", cfg.context_size
    )
    return finish_comparison(paths, model, eval_dataset, cfg, hook, out)


def finish_comparison(
    paths: dict[str, Path],
    model: HookedTransformer,
    eval_dataset: Dataset,
    cfg: ComparisonConfig,
    hook: str,
    out_dir: str | Path,
    extra: dict[str, Any] | None = None,
) -> ComparisonResult:
    """Sweep the trained SAEs, write ``comparison``/``differences`` tables and the frontier plot."""
    out = Path(out_dir)
    table = sweep_trained(paths, model, eval_dataset, cfg.baselines.budgets, cfg.sweep)
    if cfg.adaptive_targets:
        hierarchical = SAE.load_from_disk(paths[sae_name("hierarchical_topk", cfg.baselines.K)])
        adaptive = sweep_adaptive(
            hierarchical, model, eval_dataset, cfg.adaptive_targets, cfg.sweep
        )
        table = pd.concat([table, adaptive], ignore_index=True)
    provenance = {
        "config": asdict(cfg),
        "hook_name": hook,
        "model": model.cfg.model_name,
        **(extra or {}),
    }
    csv, js = save_table(table, out, "comparison", extra=provenance)
    diffs = {m: budget_differences(table, m) for m in ("explained_variance", "ce_loss_score")}
    diff_csv, _ = save_table(pd.concat(diffs.values(), ignore_index=True), out, "differences")
    plots = plot_frontier(
        table, out, title=f"{model.cfg.model_name} {hook}: HierarchicalTopK vs peers"
    )
    return ComparisonResult(
        table=table,
        differences=diffs["explained_variance"],
        table_csv=csv,
        table_json=js,
        differences_csv=diff_csv,
        plot_png=plots["png"],
        plot_html=plots["html"],
        sae_dirs=paths,
    )


def demo_config() -> ComparisonConfig:
    """Reduced scale for the README demo (budgets 2..16, adaptive budgets at the same mean L0s):
    a few minutes on CPU. BatchTopK and Matryoshka-BatchTopK are left out: in 98 steps
    their JumpReLU threshold (an EMA at rate 0.01 per step, from 0) does not converge and their
    L0 sits far above k; ``adaptive_config()`` trains BatchTopK long enough."""
    return ComparisonConfig(
        baselines=BaselineConfig(
            d_sae=256,
            K=16,
            budgets=[2, 4, 8, 16],
            methods=("hierarchical_topk", "topk", "multi_topk"),
            training_tokens=100_000,
            train_batch_size_tokens=1024,
            lr=1e-3,
            dead_feature_window=50,
        ),
        sweep=SweepConfig(n_batches=1, batch_size_prompts=8),
        adaptive_targets=[2, 4, 8, 16],
    )


def results_config() -> ComparisonConfig:
    """The scale behind experiments/htopk_pareto/htopk_pareto.md: K = 32 on the default model, minutes on CPU."""
    return ComparisonConfig(
        baselines=BaselineConfig(
            d_sae=512,
            K=32,
            budgets=[2, 4, 8, 16, 32],
            training_tokens=600_000,
            train_batch_size_tokens=1024,
            lr=1e-3,
            dead_feature_window=150,
        ),
        sweep=SweepConfig(n_batches=4, batch_size_prompts=8),
    )


def adaptive_config() -> ComparisonConfig:
    """``results_config()`` at K = 16 with adaptive budgets at mean L0 2..16 against fixed-k
    hierarchical, TopK and BatchTopK at each k. Its 600k tokens (586 steps) let BatchTopK's
    threshold EMA (rate 0.01 per step in SAELens) settle, so its L0 can be checked against k."""
    cfg = results_config()
    baselines = replace(
        cfg.baselines,
        K=16,
        budgets=[2, 4, 8, 16],
        methods=("hierarchical_topk", "topk", "batchtopk"),
    )
    return replace(cfg, baselines=baselines, adaptive_targets=[2, 4, 8, 16])


PRESETS = {"demo": demo_config, "results": results_config, "adaptive": adaptive_config}
"""``compare --scale`` name -> preset of the default-model comparison."""

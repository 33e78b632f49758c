"""Autointerp across budgets with EleutherAI's delphi: explanations, detection and fuzzing scores.

Balagansky et al. (arXiv 2505.24473) claim that HierarchicalTopK keeps interpretability at higher
sparsity; this runner measures it. For each budget k the SAE's latents (``encode`` at k) are
cached by delphi's ``LatentCache``, its ``LatentDataset`` builds activating / non-activating
examples, ``DefaultExplainer`` asks the explainer client for an explanation, and
``DetectionScorer`` / ``FuzzingScorer`` score it (accuracy over the test examples).
A failed explanation or an unparseable scoring answer is recorded as failed (NaN score), never as
0 or 1. delphi imports without vLLM thanks to this package's ``__init__``. The scores mean something only with a capable explainer (see ``explainer_clients``).
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from delphi.clients.client import Client
from delphi.config import CacheConfig, ConstructorConfig, SamplerConfig
from delphi.explainers import DefaultExplainer
from delphi.latents import LatentCache, LatentDataset
from delphi.pipeline import Pipe, Pipeline, process_wrapper
from delphi.scorers import DetectionScorer, FuzzingScorer
from jaxtyping import Int
from matplotlib.figure import Figure
from sae_lens import SAE
from torch import Tensor
from transformer_lens import HookedTransformer

from saelens_hierarchical.activation_cache import check_hook_width, sae_input
from saelens_hierarchical.budget import at_budget
from saelens_hierarchical.ecosystem.output_folder import atomic_folder
from saelens_hierarchical.ecosystem.sae_folder import check_budgets, check_features

FAILED_EXPLANATION = "Explanation could not be parsed."  # delphi's marker for a failed parse
SCORERS = ("detection", "fuzz")


@dataclass
class AutointerpConfig:
    """Example counts of delphi's sampler and scorers (small: CPU, tiny models)."""

    n_examples_train: int = 10
    """Activating examples shown to the explainer."""

    n_examples_test: int = 10
    """Activating examples each scorer classifies (plus as many non-activating)."""

    n_examples_shown: int = 5
    """Examples per scoring prompt."""

    example_ctx_len: int = 16
    """Tokens per example window."""

    min_examples: int = 20
    """delphi skips latents with fewer activating windows (recorded as skipped)."""

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value < 1:
                raise ValueError(f"AutointerpConfig.{name} must be >= 1; got {value}")


class _DelphiModelView:
    """What ``LatentCache`` needs of a model: ``named_modules``, a call, and ``model.device``
    (a HookedTransformer keeps its device in ``cfg.device``)."""

    def __init__(self, model: HookedTransformer):
        self.model, self.device = model, model.cfg.device

    def named_modules(self) -> Any:
        return self.model.named_modules()

    def __call__(self, tokens: Tensor) -> Tensor:
        return self.model(tokens)


def _cache_latents(sae: SAE, model: HookedTransformer, tokens: Tensor, out: Path) -> None:
    hook, head = sae.cfg.metadata.hook_name, sae.cfg.metadata.hook_head_index
    n_tokens = tokens.numel()

    def encode(activation: Tensor) -> Tensor:  # a 4-D hook (LIMe route, hook_z) as SAELens reads it
        return sae.encode(sae_input(activation, head))

    cache = LatentCache(_DelphiModelView(model), {hook: encode}, batch_size=8)  # type: ignore[arg-type]
    cache.run(n_tokens, tokens)
    cache.save_splits(n_splits=1, save_dir=out)
    cfg = CacheConfig(cache_ctx_len=tokens.shape[1], n_tokens=n_tokens, n_splits=1)
    cache.save_config(save_dir=out, cfg=cfg, model_name=model.cfg.model_name)


def _accuracy(outputs: list[Any]) -> float:
    judged = [o.correct for o in outputs if o.correct is not None]
    return sum(judged) / len(judged) if judged else math.nan


def _score_budget(
    latents_dir: Path,
    hook: str,
    features: list[int],
    tokenizer: Any,
    client: Client,
    cfg: AutointerpConfig,
) -> dict[int, dict[str, Any]]:
    dataset = LatentDataset(
        raw_dir=latents_dir,
        sampler_cfg=SamplerConfig(
            n_examples_train=cfg.n_examples_train,
            n_examples_test=cfg.n_examples_test,
            n_quantiles=2,
        ),
        constructor_cfg=ConstructorConfig(
            example_ctx_len=cfg.example_ctx_len,
            min_examples=cfg.min_examples,
            n_non_activating=cfg.n_examples_test,
        ),
        modules=[hook],
        latents={hook: torch.tensor(features)},
        tokenizer=tokenizer,
    )
    found: dict[int, dict[str, Any]] = {}

    def explained(result: Any) -> Any:
        found[result.record.latent.latent_index] = {"explanation": result.explanation}
        result.record.explanation = result.explanation
        result.record.extra_examples = result.record.not_active
        return result.record

    def scored(name: str) -> Any:
        def record(result: Any) -> None:
            entry = found[result.record.latent.latent_index]
            failed = entry["explanation"] == FAILED_EXPLANATION
            entry[name] = math.nan if failed else _accuracy(result.score)

        return record

    scorers = [
        process_wrapper(
            cls(client, n_examples_shown=cfg.n_examples_shown, verbose=False, log_prob=False),
            preprocess=lambda result: result[0] if isinstance(result, list) else result,
            postprocess=scored(name),
        )
        for name, cls in zip(SCORERS, (DetectionScorer, FuzzingScorer), strict=True)
    ]
    explainer = process_wrapper(DefaultExplainer(client, threshold=0.3), postprocess=explained)
    _run_to_completion(Pipeline(dataset, Pipe(explainer), Pipe(*scorers)).run(1))
    return found


def _run_to_completion(coroutine: Any) -> Any:
    """``asyncio.run``, also from a notebook (whose event loop is already running): then on a
    fresh loop in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _rows(k: int, features: list[int], found: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for f in features:
        entry = found.get(f)
        if entry is None:
            status = "skipped: too few activating examples"
        elif entry["explanation"] == FAILED_EXPLANATION:
            status = "explanation failed"
        elif any(math.isnan(entry.get(s, math.nan)) for s in SCORERS):
            status = "scoring failed"
        else:
            status = "ok"
        entry = entry or {}
        rows.append(
            {"budget": k, "feature": f, "status": status, "explanation": entry.get("explanation")}
            | {s: entry.get(s, math.nan) for s in SCORERS}
        )
    return rows


@dataclass
class AutointerpResult:
    """What ``run_autointerp`` wrote."""

    scores: pd.DataFrame
    """One row per (budget, feature): status, explanation, detection and fuzz accuracy."""

    summary: pd.DataFrame
    """One row per budget: mean and standard error of each score over the features with
    status "ok", and how many features were ok / failed / skipped."""

    scores_csv: Path
    summary_csv: Path
    plot_png: Path


def summarize(scores: pd.DataFrame) -> pd.DataFrame:
    """Per-budget means over scored features; failures are counted, never averaged in."""
    rows = []
    for k, group in scores.groupby("budget"):
        ok = group[group["status"] == "ok"]
        row: dict[str, Any] = {"budget": k, "n_ok": len(ok)}
        row["n_failed"] = int(group["status"].str.contains("failed").sum())
        row["n_skipped"] = int(group["status"].str.startswith("skipped").sum())
        for s in SCORERS:
            row[f"{s}_mean"] = ok[s].mean() if len(ok) else math.nan
            row[f"{s}_se"] = ok[s].std(ddof=1) / math.sqrt(len(ok)) if len(ok) > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _plot(summary: pd.DataFrame, path: Path) -> None:
    # A Figure of its own, not pyplot: no backend switch, nothing left in a notebook's pyplot state
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    for s in SCORERS:
        ax.errorbar(
            summary["budget"], summary[f"{s}_mean"], yerr=summary[f"{s}_se"], marker="o", label=s
        )
    ax.set(xscale="log", xlabel="budget k", ylabel="accuracy (scored features)", ylim=(0, 1))
    ax.set_xticks(summary["budget"], [str(k) for k in summary["budget"]])
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def run_autointerp(
    sae: SAE,
    model: HookedTransformer,
    tokens: Int[Tensor, "batch pos"],
    budgets: Sequence[int],
    features: Sequence[int],
    client: Client,
    out_dir: str | Path,
    cfg: AutointerpConfig | None = None,
) -> AutointerpResult:
    """Explain and score ``features`` of ``sae`` at every budget; write ``scores.csv``,
    ``summary.csv``, ``autointerp.png`` and ``run.json`` to ``out_dir`` (atomically)."""
    cfg = cfg or AutointerpConfig()
    ks, feats = check_budgets(sae, budgets), check_features(sae, features)
    check_hook_width(sae, model)
    hook = sae.cfg.metadata.hook_name
    rows: list[dict[str, Any]] = []
    with atomic_folder(out_dir) as tmp:
        for k in ks:
            latents = tmp / f"latents_budget_{k}"
            with torch.no_grad(), at_budget(sae, k):  # type: ignore[arg-type]
                _cache_latents(sae, model, tokens, latents)
            found = _score_budget(latents, hook, feats, model.tokenizer, client, cfg)
            rows += _rows(k, feats, found)

            shutil.rmtree(latents)  # delphi's latent cache: large, and rebuilt from tokens
        scores = pd.DataFrame(rows)
        summary = summarize(scores)
        scores.to_csv(tmp / "scores.csv", index=False)
        summary.to_csv(tmp / "summary.csv", index=False)
        _plot(summary, tmp / "autointerp.png")
        run = {"hook_name": hook, "explainer": client.model, "budgets": ks, "features": feats}
        (tmp / "run.json").write_text(json.dumps(run | {"config": asdict(cfg)}, indent=2) + "\n")
    out = Path(out_dir)
    return AutointerpResult(
        scores, summary, out / "scores.csv", out / "summary.csv", out / "autointerp.png"
    )

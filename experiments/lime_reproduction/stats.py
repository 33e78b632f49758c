"""Summaries of ``experiments.lime_reproduction.run`` runs, shared by the run (its JSON's ``lm`` and
``arithmetic`` blocks) and the renderer (``experiments.lime_reproduction.render``), so both read
the same numbers out of the raw per-run records."""

from __future__ import annotations

import math
import statistics
from typing import Any, NamedTuple

BASELINE = "vanilla"
"""The ``lime_lens.train`` architecture every LIMe variant is compared with."""
RESOLVED_AT = 2.0
"""A difference counts as resolved beyond this many standard errors."""


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (nan for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else float("nan")


def arches(runs: list[dict[str, Any]]) -> list[str]:
    """The architectures of ``runs``: LIMe variants sorted by name, then the baseline."""
    names = {r["arch"] for r in runs}
    return sorted(names - {BASELINE}) + [BASELINE]


def lm_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per architecture: validation loss mean/std over seeds, parameters, mean trainer tok/s."""
    summary: dict[str, Any] = {}
    for arch in arches(runs):
        mine = sorted((r for r in runs if r["arch"] == arch), key=lambda r: r["seed"])
        losses = [r["val_loss"] for r in mine]
        mean, std = mean_std(losses)
        summary[arch] = {
            "val_loss_mean": mean,
            "val_loss_std": std,
            "val_losses": losses,
            "n_params": mine[0]["n_params"],
            "tokens_per_s_mean": statistics.fmean(r["tokens_per_s"] for r in mine),
            "seeds": [r["seed"] for r in mine],
        }
    return summary


def arith_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per architecture: exact-match accuracy (%) per N, mean/std over seeds; parameters."""
    ns = sorted(int(n) for n in runs[0]["accuracy"])
    summary: dict[str, Any] = {}
    for arch in arches(runs):
        mine = [r for r in runs if r["arch"] == arch]
        per_n = {n: mean_std([100 * r["accuracy"][n] for r in mine]) for n in ns}
        summary[arch] = {
            "accuracy_pct": {n: {"mean": m, "std": s} for n, (m, s) in per_n.items()},
            "n_params": mine[0]["n_params"],
            "seeds": [r["seed"] for r in mine],
        }
    return summary


class Difference(NamedTuple):
    """LIMe minus baseline validation loss, with the seed-to-seed standard error of that difference."""

    diff: float
    se: float
    verdict: str
    """"lower than vanilla", "higher than vanilla" or "not resolved from vanilla"."""


def difference(lm: dict[str, Any], arch: str) -> Difference:
    """``arch`` minus the baseline in ``lm_summary`` output; resolved beyond RESOLVED_AT standard errors."""
    mine, base = lm[arch], lm[BASELINE]
    diff = mine["val_loss_mean"] - base["val_loss_mean"]
    se = math.sqrt(
        mine["val_loss_std"] ** 2 / len(mine["val_losses"])
        + base["val_loss_std"] ** 2 / len(base["val_losses"])
    )
    if diff < -RESOLVED_AT * se:
        verdict = f"lower than {BASELINE}"
    elif diff > RESOLVED_AT * se:
        verdict = f"higher than {BASELINE}"
    else:
        verdict = f"not resolved from {BASELINE}"
    return Difference(diff, se, verdict)


def int_keyed(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``runs`` read back from JSON, with the per-N dicts keyed by int again."""
    per_n = ("accuracy", "train_accuracy", "sizes")
    return [
        {k: {int(n): x for n, x in v.items()} if k in per_n else v for k, v in run.items()}
        for run in runs
    ]

"""The paired analysis of ``preregistration_paired.md``: which vanilla is the baseline at a depth,
per-seed LIMe-kv - vanilla differences, the depth contrast, and the t-interval verdict."""

from __future__ import annotations

import math
import statistics
from typing import Any, NamedTuple

from scipy import stats

LIME = "lime-kv"
MATCHED = "vanilla-matched-kv"
"""Vanilla with d_mlp matched to LIMe-kv alone (the reproduction's rule also matches the dynamic
router, which grows with depth and leaves a gap over 1% from 16 layers on)."""
PARAM_TOLERANCE = 0.01
"""Pre-registered: the baseline's parameter count is within 1% of LIMe-kv's."""
CONFIDENCE = 0.95
"""Pre-registered: two-sided 95% t interval over seeds."""
MIN_SEEDS = 5
"""Pre-registered: no verdict from fewer complete seeds."""
PRIMARY_SEEDS = (0, 1, 2, 3, 4)
"""Pre-registered: the primary verdict uses these seeds only; extra seeds are secondary."""
DEPTHS = (4, 32)
"""Pre-registered: the trend contrast is D(32) - D(4)."""


class Interval(NamedTuple):
    """Mean of per-seed values with its two-sided t interval."""

    mean: float
    """Mean over seeds."""
    sd: float
    """Sample standard deviation over seeds (nan for one seed)."""
    low: float
    """Lower end of the interval (nan for one seed)."""
    high: float
    """Upper end of the interval (nan for one seed)."""
    n: int
    """Number of seeds."""
    t: float
    """t(0.975, n - 1) used (nan for one seed)."""


def t_interval(values: list[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean +- t(1 - alpha/2, n - 1) * sd / sqrt(n) over ``values`` (one per seed)."""
    n = len(values)
    if n == 0:
        raise ValueError("values: need at least one per-seed value")
    mean = statistics.fmean(values)
    if n < 2:
        return Interval(mean, math.nan, math.nan, math.nan, n, math.nan)
    sd = statistics.stdev(values)
    t = float(stats.t.ppf(0.5 + confidence / 2, n - 1))
    half = t * sd / math.sqrt(n)
    return Interval(mean, sd, mean - half, mean + half, n, t)


def interval_verdict(iv: Interval, below: str, above: str) -> str:
    """``below`` if the interval lies under 0, ``above`` if over 0, else "not resolved"."""
    if iv.n < MIN_SEEDS:
        return f"no verdict ({iv.n} of the {MIN_SEEDS} pre-registered seeds complete)"
    if iv.high < 0:
        return below
    if iv.low > 0:
        return above
    return "not resolved"


def losses(runs: list[dict[str, Any]]) -> dict[tuple[str, int, int], float]:
    """(arch, depth, seed) -> validation loss; a duplicate key is an error."""
    out: dict[tuple[str, int, int], float] = {}
    for r in runs:
        key = (r["arch"], r["depth"], r["seed"])
        if key in out:
            raise ValueError(f"runs: two runs of {key}")
        out[key] = r["val_loss"]
    return out


def paired_differences(runs: list[dict[str, Any]], depth: int, baseline: str) -> dict[int, float]:
    """seed -> val_loss(LIMe-kv) - val_loss(baseline) at ``depth``, seeds with both runs."""
    table = losses(runs)
    seeds = sorted({s for a, d, s in table if d == depth})
    return {
        s: table[(LIME, depth, s)] - table[(baseline, depth, s)]
        for s in seeds
        if (LIME, depth, s) in table and (baseline, depth, s) in table
    }


def trend_contrasts(d_low: dict[int, float], d_high: dict[int, float]) -> dict[int, float]:
    """seed -> D_s(deep) - D_s(shallow), for seeds complete at both depths."""
    return {s: d_high[s] - d_low[s] for s in sorted(d_low.keys() & d_high.keys())}

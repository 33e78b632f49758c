"""Intervals for step-task accuracies when every seed scores the SAME test expressions.

Per seed, two models (or a model and the constant answer) are scored on the same n expressions,
so their difference is paired: x_i = correct_a,i - correct_b,i, estimate mean(x), standard error
sd(x) / sqrt(n) (sample sd). Across S seeds the test expressions are shared, so the seeds'
test-sampling errors are correlated and the S x n answers are NOT S x n independent samples.
:func:`combined_difference` takes

- the estimate: the mean over seeds of the per-seed differences;
- the test-sampling part: sd over expressions of each expression's difference averaged over
  seeds, / sqrt(n) (expressions are the independent units);
- the training-seed part: the sample variance of the per-seed differences / S (needs S >= 2);

and SE = sqrt(test part^2 + seed part^2). The seed part also holds some test-sampling noise, so
the sum errs on the wide side, never on the narrow one. The interval is estimate +- z * SE.
"""

from __future__ import annotations

import math
import statistics
from typing import NamedTuple


class Combined(NamedTuple):
    """A difference of accuracies over seeds that share their test expressions."""

    mean: float
    """Mean over seeds of the per-seed paired differences (a share, not points)."""
    se: float
    """sqrt(se_test^2 + se_seed^2); equals se_test for one seed."""
    se_test: float
    """Test-sampling part: over expressions, of the seed-averaged differences."""
    se_seed: float
    """Training-seed part: sd of the per-seed differences / sqrt(S); nan for one seed."""
    per_seed: dict[int, tuple[float, float]]
    """seed -> (paired difference, its SE over that seed's expressions)."""


def _bits(text: str, name: str) -> list[int]:
    if not text or set(text) - {"0", "1"}:
        raise ValueError(f"{name}: a non-empty string of '0'/'1' per expression, got {text[:20]!r}")
    return [int(c) for c in text]


def paired_difference(correct_a: str, correct_b: str) -> tuple[float, float]:
    """(mean of a_i - b_i, its SE) over the same expressions; bits as '0'/'1' strings."""
    a, b = _bits(correct_a, "correct_a"), _bits(correct_b, "correct_b")
    if len(a) != len(b):
        raise ValueError(f"correct_a and correct_b score {len(a)} and {len(b)} expressions")
    x = [i - j for i, j in zip(a, b, strict=True)]
    sd = statistics.stdev(x) if len(x) > 1 else math.nan
    return statistics.fmean(x), sd / math.sqrt(len(x))


def combined_difference(a_by_seed: dict[int, str], b_by_seed: dict[int, str]) -> Combined:
    """The difference a - b over the seeds both have, by the module's method."""
    seeds = sorted(a_by_seed.keys() & b_by_seed.keys())
    if not seeds:
        raise ValueError("a_by_seed and b_by_seed share no seed")
    per_seed = {s: paired_difference(a_by_seed[s], b_by_seed[s]) for s in seeds}
    n = {len(a_by_seed[s]) for s in seeds}
    if len(n) != 1:
        raise ValueError(f"seeds score different numbers of expressions: {sorted(n)}")
    diffs = [
        [i - j for i, j in zip(_bits(a_by_seed[s], "a"), _bits(b_by_seed[s], "b"), strict=True)]
        for s in seeds
    ]
    averaged = [statistics.fmean(col) for col in zip(*diffs, strict=True)]
    se_test = statistics.stdev(averaged) / math.sqrt(len(averaged))
    means = [d for d, _ in per_seed.values()]
    se_seed = statistics.stdev(means) / math.sqrt(len(means)) if len(means) > 1 else math.nan
    se = se_test if math.isnan(se_seed) else math.hypot(se_test, se_seed)
    return Combined(statistics.fmean(means), se, se_test, se_seed, per_seed)


def constant_bits(answers: list[int], constant: int) -> str:
    """'1' where the constant answer is right: the baseline scored like a model."""
    return "".join("1" if a == constant else "0" for a in answers)


__all__ = ["Combined", "combined_difference", "constant_bits", "paired_difference"]

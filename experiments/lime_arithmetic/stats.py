"""The numbers the arithmetic report states, from the run's JSON and the task's generator: the
LIMe-kv - vanilla difference per seed and over seeds, the constant-answer baseline, and the
sizes of the rows the models were trained on.

Over seeds: every seed scores the *same* test expressions, so the seeds' test-sampling errors are
not independent. Pooling the seeds' answers as if they were separate samples (2 seeds x 100
expressions = 200) understates the standard error. Here the difference is taken per seed (the
pre-registered one-seed rule: two binomial proportions over that seed's n scored expressions),
and the mean over seeds carries the mean of the per-seed standard errors: the bound for errors
that are fully correlated across seeds, so it never understates.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, NamedTuple

from lime_lens.arithmetic.expression import compact, exact_value
from lime_lens.arithmetic.solution import solution_text
from lime_lens.arithmetic.step_task import StepTask, draw_expressions

LIME, BASELINE = "lime-kv", "vanilla"
RESOLVED_AT = 2.0
"""Pre-registered: a difference counts as resolved beyond this many standard errors."""
SIZEABLE_SHARE = 0.20
"""The decision rule's "sizeable share of 6-operand expressions": the better model's accuracy at
the largest tier at least this (in code since the run; stated in the report's addendum)."""

Runs = dict[str, list[dict[str, Any]]]
"""arch -> its runs (one per seed) that reached the last point."""


class Difference(NamedTuple):
    """LIMe-kv - vanilla accuracy at the last point, in points."""

    per_seed: dict[int, tuple[float, float]]
    """seed -> (difference, its binomial SE) over that seed's scored expressions."""
    mean: float
    """Mean of the per-seed differences."""
    se: float
    """Mean of the per-seed SEs (correlated seeds: see the module docstring)."""
    word: str
    """The verdict word: "not resolved", "LIMe-kv ahead" or "vanilla ahead"."""


def final_point(run: dict[str, Any]) -> dict[str, Any]:
    """The run's last scored point (callers pass runs whose curve reached the end)."""
    return run["curve"][-1]


def final_tier(run: dict[str, Any], tier: str) -> dict[str, Any]:
    return final_point(run)["tiers"][tier]


def difference(runs: Runs, tier: str) -> Difference:
    by_seed = {r["seed"]: r for r in runs[BASELINE]}
    per_seed = {}
    for lime in runs[LIME]:
        a, b = final_tier(lime, tier), final_tier(by_seed[lime["seed"]], tier)
        p1, p2 = a["accuracy"], b["accuracy"]
        se = math.sqrt(p1 * (1 - p1) / a["n"] + p2 * (1 - p2) / b["n"])
        per_seed[lime["seed"]] = (100 * (p1 - p2), 100 * se)
    mean = statistics.fmean(d for d, _ in per_seed.values())
    se = statistics.fmean(s for _, s in per_seed.values())
    if se == 0 or abs(mean) <= RESOLVED_AT * se:
        word = "not resolved"
    else:
        word = "LIMe-kv ahead" if mean > 0 else "vanilla ahead"
    return Difference(per_seed, mean, se, word)


def test_expressions(task: dict[str, Any], tier: str, n: int) -> list[str]:
    """The first ``n`` test expressions of ``tier`` of ``task`` (a ``StepTask`` as its JSON
    dict), redrawn with the run's generator version (the test set is the first drawn)."""
    drawn = StepTask.from_dict({**task, "n_train": 0, "n_test": n})
    return draw_expressions(drawn, int(tier))[1]


def constant_answer_pct(payload: dict[str, Any], tier: str) -> float:
    """Accuracy (%) of always answering the most common value of the scored test expressions."""
    n = payload["runs"][0]["curve"][-1]["tiers"][tier]["n"]  # every seed scores the same ones
    return constant_answer_of(payload["task"], tier, n)


def constant_answer_of(task: dict[str, Any], tier: str, n: int) -> float:
    """:func:`constant_answer_pct` for the first ``n`` test expressions of ``task`` (a
    ``StepTask`` as its JSON dict)."""
    values = [exact_value(e) for e in test_expressions(task, tier, n)]
    return 100 * max(values.count(v) for v in set(values)) / n


def real_tokens(payload: dict[str, Any], tier: str) -> float:
    """Mean tokens of a row before padding (BOS + expression + ``=`` + solution + EOS, one token
    per character, spaces dropped) over the tier's whole test set."""
    test = test_expressions(payload["task"], tier, payload["task"]["n_test"])
    return statistics.fmean(3 + len(compact(e)) + len(compact(solution_text(e))) for e in test)

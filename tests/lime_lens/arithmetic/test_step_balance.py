"""The step task's generator versions: version 2 (default) is balanced within the bounds its
docstring states; version 1 still draws exactly what the first generator drew."""

import hashlib
import re
from collections import Counter
from fractions import Fraction

import pytest

from lime_lens.arithmetic.expression import OPERATORS, exact_value, tokenize
from lime_lens.arithmetic.step_balanced import divisor_range
from lime_lens.arithmetic.step_task import StepTask, draw_expressions

OPERATOR_SHARE = (0.20, 0.30)
"""Stated bound (``step_balanced``): each operator's share of all operators, uniform = 0.25."""
DIVIDE_BY_ONE_MAX = 0.05
"""Stated bound: "÷ 1" at most this share of divisions."""
ONE_DIVISOR_MAX = 0.40
"""Stated bound: no single divisor value over this share of divisions."""


def divisors(text: str) -> list[Fraction]:
    """The value of the right operand of every ``÷`` in ``text``: the next primary (a number or a
    parenthesised group), since ``×``/``÷`` bind tightest. Read from the text, not the tree."""
    tokens, out = tokenize(text), []
    for i, token in enumerate(tokens):
        if token != "÷":
            continue
        j = k = i + 1
        depth = 0
        while True:
            depth += (tokens[k] == "(") - (tokens[k] == ")")
            if depth == 0:
                break
            k += 1
        out.append(exact_value(" ".join(tokens[j : k + 1])))
    return out


def distributions(texts: list[str]) -> tuple[dict[str, float], dict[int, float]]:
    ops = Counter(t for e in texts for t in tokenize(e) if t in OPERATORS)
    divs = Counter(int(d) for e in texts for d in divisors(e))
    n_ops, n_divs = sum(ops.values()), sum(divs.values())
    return {o: ops[o] / n_ops for o in OPERATORS}, {d: c / n_divs for d, c in divs.items()}


def _check_balance(n: int, n_samples: int) -> None:
    task = StepTask(n_operands=(n,), n_train=n_samples - 1_000, n_test=1_000)
    train, test = draw_expressions(task, n)
    ops, divs = distributions(train + test)
    low, high = OPERATOR_SHARE
    assert all(low <= share <= high for share in ops.values()), ops
    assert divs.get(1, 0.0) <= DIVIDE_BY_ONE_MAX, divs
    assert max(divs.values()) <= ONE_DIVISOR_MAX, divs


@pytest.mark.slow
@pytest.mark.parametrize("n", [4, 5, 6])
def test_operators_and_divisors_are_balanced_on_10000_expressions_per_tier(n):
    _check_balance(n, 10_000)


@pytest.mark.parametrize("n", [4, 6])
def test_operators_and_divisors_are_balanced_on_2000_expressions_per_tier(n):
    _check_balance(n, 2_000)


def test_version_1_was_skewed_as_issue_24_measured():
    """The bounds can fail: the first generator misses them (+ over 0.3, "÷ 1" over 0.4)."""
    task = StepTask(n_operands=(5,), n_train=1_000, n_test=1_000, version=1)
    ops, divs = distributions([e for split in draw_expressions(task, 5) for e in split])
    assert ops["+"] > OPERATOR_SHARE[1] and ops["−"] < OPERATOR_SHARE[0]
    assert divs[1] > 0.4


V1_DIGESTS = {4: "13dce3cb16b74449", 5: "876f39e0b71a908b", 6: "4e3040709812df22"}
"""sha256 of the test then train texts (seed 0, 50 + 200) drawn by the generator at commit
7d11ad8, before versions existed."""


@pytest.mark.parametrize("n", [4, 5, 6])
def test_version_1_draws_exactly_what_the_first_generator_drew(n):
    task = StepTask(n_operands=(n,), n_train=200, n_test=50, seed=0, version=1)
    train, test = draw_expressions(task, n)
    assert hashlib.sha256("\n".join(test + train).encode()).hexdigest()[:16] == V1_DIGESTS[n]


def test_a_stored_task_without_a_version_is_version_1_and_new_tasks_are_version_2():
    stored = {"n_operands": [4], "n_train": 10, "n_test": 2, "seed": 0}
    assert StepTask.from_dict(stored).version == 1
    assert StepTask.from_dict({**stored, "version": 2}).version == 2
    assert StepTask().version == 2


def test_an_unknown_version_is_refused_naming_the_field():
    with pytest.raises(ValueError, match=re.escape("StepTask.version must be one of (1, 2)")):
        StepTask(version=3)


def test_leaf_divisors_start_at_2_unless_the_operands_stop_below_it():
    assert divisor_range(StepTask()) == range(2, 10)
    tiny = StepTask(n_operands=(2,), operators="+÷", max_operand=1, n_train=0, n_test=1)
    assert divisor_range(tiny) == range(1, 2)

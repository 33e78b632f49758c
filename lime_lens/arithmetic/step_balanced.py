"""Version 2 of the step-task generator (the default): operators close to uniform, "÷ 1" ruled out.

Version 1 (:func:`lime_lens.arithmetic.step_task.random_tree_v1`) draws the two subtrees first and
then takes the first operator, in random order, that keeps the node an integer in range. ``+``
almost always qualifies and ``−``, ``×`` and ``÷`` often do not, so ``+`` took 36-39% of the
operators and ``−`` 15%; and a leaf divisor drawn among the dividend's divisors in 1..9 was 1 in
about 44% of divisions, which a model can answer by copying (issue 24, item 3).

Version 2 draws each inner node's operator FIRST, uniformly from ``operators``, and then redraws
the split and both subtrees (up to ``REDRAWS`` times) until that operator applies:

- ``+`` and ``×``: the value must be <= ``max_value``;
- ``−``: if the left value is smaller, the two subtrees swap sides (values stay >= 0);
- ``÷``: a leaf divisor is drawn uniformly among the divisors of the dividend in
  ``max(2, min_operand)..max_operand`` (1 only when ``max_operand`` < 2); a subtree divisor must
  be >= 2 and divide exactly. A dividend with no such divisor fails the draw.

A node that fails ``REDRAWS`` times makes its parent redraw its children (new operators); the only
bias left is that children whose values let their parent's operator apply are kept more often.
Measured on 10,000 expressions per tier (the balance test states the bounds): each operator's
share of all operators within 0.25 +- 0.05, "÷ 1" at most 5% of divisions, and no divisor value
over 40% of divisions.
"""

from __future__ import annotations

import random
from typing import Any, Protocol, runtime_checkable

from lime_lens.arithmetic.expression import DIVIDE, MINUS, PLUS


@runtime_checkable
class TaskRanges(Protocol):
    """The ranges version 2 draws from (``lime_lens.arithmetic.step_task.StepTask`` has them);
    a protocol, so that this module does not import the task that dispatches to it."""

    min_operand: int
    max_operand: int
    min_value: int
    max_value: int
    operators: str


Node = int | tuple[str, Any, Any]
"""A leaf operand or (operator, left Node, right Node)."""

REDRAWS = 50
"""Subtree redraws per node before the node gives up (its parent then redraws)."""


def divisor_range(task: TaskRanges) -> range:
    """Leaf divisors version 2 may draw: ``max(2, min_operand)..max_operand``, or from
    ``max(1, min_operand)`` when ``max_operand`` < 2 leaves nothing else."""
    low = max(2, task.min_operand) if task.max_operand >= 2 else max(1, task.min_operand)
    return range(low, task.max_operand + 1)


def apply_operator(
    rng: random.Random, task: TaskRanges, op: str, left: tuple[Node, int], right: tuple[Node, int]
) -> tuple[Node, int] | None:
    """``((op, left, right), value)`` with ``op`` made to apply as stated above, or None."""
    (ln, lv), (rn, rv) = left, right
    if op == MINUS and lv < rv:
        (ln, lv), (rn, rv) = (rn, rv), (ln, lv)
    if op == DIVIDE:
        if isinstance(rn, int):
            divisors = [d for d in divisor_range(task) if lv % d == 0]
            if not divisors:
                return None
            rn = rv = rng.choice(divisors)
        elif rv < 2 or lv % rv != 0:
            return None
        value = lv // rv
    else:
        value = lv + rv if op == PLUS else lv - rv if op == MINUS else lv * rv
    if not task.min_value <= value <= task.max_value:
        return None
    return (op, ln, rn), value


def random_tree_v2(rng: random.Random, n: int, task: TaskRanges) -> tuple[Node, int] | None:
    """One N-leaf tree with its value: the operator first, then subtrees until it applies."""
    if n == 1:
        leaf = rng.randint(
            max(task.min_operand, task.min_value), min(task.max_operand, task.max_value)
        )
        return leaf, leaf
    op = rng.choice(task.operators)
    for _ in range(REDRAWS):
        k = rng.randint(1, n - 1)
        left, right = random_tree_v2(rng, k, task), random_tree_v2(rng, n - k, task)
        if left is None or right is None:
            continue
        node = apply_operator(rng, task, op, left, right)
        if node is not None:
            return node
    return None


def tree_operators(node: Node) -> list[str]:
    """Every inner node's operator, in pre-order."""
    if isinstance(node, int):
        return []
    op, left, right = node
    return [op, *tree_operators(left), *tree_operators(right)]


__all__ = ["REDRAWS", "apply_operator", "divisor_range", "random_tree_v2", "tree_operators"]

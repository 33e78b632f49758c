"""Seeded generator of the step-by-step arithmetic task (LIMe paper v2, §5.3.2 and App. A/B).

The paper does not publish its generator; every choice here is stated in :class:`StepTask`:

- **Ranges.** Operands (leaves) are integers in ``min_operand..max_operand`` (default 1..9);
  every node's value, i.e. every intermediate result and the answer, is an integer in
  ``min_value..max_value`` (default 0..99).
- **Expression, version 2 (the default; :mod:`lime_lens.arithmetic.step_balanced`).** A random
  binary expression tree with N leaves: the leaves are split k | N - k with k uniform in 1..N-1;
  each inner node's operator is drawn uniformly from ``operators`` first, then the split and
  subtrees are redrawn until it applies (``−`` swaps its sides rather than going negative; a
  leaf divisor is drawn among the dividend's divisors in 2..``max_operand``, a subtree divisor
  must be >= 2 and divide exactly). Measured on 10,000 expressions per tier: every operator's
  share within 0.25 +- 0.05 and "÷ 1" at most 5% of divisions (the balance test).
- **Expression, version 1** (``version=1``, kept so the runs made with it can be redrawn): the
  subtrees first, then the first operator, in random order, that keeps the node in range; a leaf
  divisor among the dividend's divisors in 1..``max_operand``. Skewed: ``+`` 36-39% of
  operators, ``−`` 15%, and "÷ 1" about 44% of divisions.
- **Text.** A node with no allowed operator makes the draw start over. The tree is written
  with the fewest parentheses that keep its structure (App. B style, e.g.
  ``(7 + 5) ÷ (6 + 4 × 3 − 2 × 7)``).
- **Intermediate values.** Every reduction of the canonical solution computes one tree node, so
  every intermediate value (and the answer) is an integer in ``min_value..max_value``.
- **Tiers and splits.** For each N of ``n_operands`` (paper: 4, 5, 6), distinct expressions: the
  first ``n_test`` drawn are the held-out test set, the next ``n_train`` the training set
  (paper: 50,000), so the two are disjoint. Seeded per N: same task, same splits.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lime_lens.arithmetic.expression import DIVIDE, MINUS, OPERATORS, PLUS, PRECEDENCE
from lime_lens.arithmetic.solution import solution_text
from lime_lens.arithmetic.step_balanced import random_tree_v2

GENERATOR_VERSIONS = (1, 2)
"""The generator versions a task may name (module docstring)."""
Node = int | tuple[str, Any, Any]
"""A leaf operand or (operator, left Node, right Node); Any: the runtime checker takes no recursive alias."""


@dataclass
class StepTask:
    """Which expressions exist and how each tier's train/test sets are drawn (module docstring)."""

    n_operands: Sequence[int] = (4, 5, 6)
    """The tiers: operand counts N (each >= 2; stored as a tuple, a JSON list is accepted). Paper: 4, 5 and 6."""
    min_operand: int = 1
    """Smallest operand (>= 0)."""
    max_operand: int = 9
    """Largest operand (App. B's example uses single digits)."""
    min_value: int = 0
    """Smallest value any intermediate step (and the answer) may take (>= 0: no negative numbers)."""
    max_value: int = 99
    """Largest value any intermediate step (and the answer) may take."""
    operators: str = "".join(OPERATORS)
    """Operators, distinct characters of "+−×÷"."""
    n_train: int = 50_000
    """Training expressions per tier (paper: 50,000)."""
    n_test: int = 1_000
    """Held-out test expressions per tier, disjoint from the training ones."""
    seed: int = 0
    """Seeds every draw."""
    version: int = 2
    """Generator version (module docstring): 2, balanced (the default), or 1, the first
    generator, to redraw the expressions of runs made with it."""

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> StepTask:
        """A task from its JSON dict; a dict without ``version`` was written before the field
        existed, by version 1."""
        return cls(**{"version": 1, **fields})

    def __post_init__(self) -> None:
        if self.version not in GENERATOR_VERSIONS:
            raise ValueError(
                f"StepTask.version must be one of {GENERATOR_VERSIONS}, got {self.version!r}"
            )
        self.n_operands = tuple(int(n) for n in self.n_operands)
        if not self.n_operands or min(self.n_operands) < 2:
            raise ValueError(
                f"StepTask.n_operands must be non-empty and each >= 2, got {self.n_operands}"
            )
        if not 0 <= self.min_operand <= self.max_operand:
            raise ValueError(
                f"StepTask.min_operand..max_operand must be a non-empty range of integers >= 0, "
                f"got {self.min_operand}..{self.max_operand}"
            )
        if not 0 <= self.min_value <= self.max_value:
            raise ValueError(
                f"StepTask.min_value..max_value must be a non-empty range of integers >= 0, "
                f"got {self.min_value}..{self.max_value}"
            )
        if max(self.min_operand, self.min_value) > min(self.max_operand, self.max_value):
            raise ValueError(
                f"StepTask.min_operand..max_operand ({self.min_operand}..{self.max_operand}) must "
                f"overlap min_value..max_value ({self.min_value}..{self.max_value})"
            )
        ops = self.operators
        if not ops or not set(ops) <= set(OPERATORS) or len(set(ops)) != len(ops):
            raise ValueError(
                f"StepTask.operators must be distinct characters of '+−×÷', got {ops!r}"
            )
        if self.n_train < 0:
            raise ValueError(f"StepTask.n_train must be >= 0, got {self.n_train}")
        if self.n_test < 1:
            raise ValueError(f"StepTask.n_test must be >= 1, got {self.n_test}")
        for n in self.n_operands:
            if self.n_train + self.n_test > self.space_bound(n):
                raise ValueError(
                    f"StepTask.n_train + n_test = {self.n_train + self.n_test} exceeds the "
                    f"{self.space_bound(n)} distinct {n}-operand expressions that can exist"
                )

    def space_bound(self, n: int) -> int:
        """An upper bound on distinct N-operand expressions: tree shapes x operators x operands."""
        shapes = math.comb(2 * (n - 1), n - 1) // n  # Catalan(N - 1)
        leaves = self.max_operand - self.min_operand + 1
        return shapes * len(self.operators) ** (n - 1) * leaves**n


def _combine(rng: random.Random, task: StepTask, left: Node, lv: int, right: Node, rv: int):
    """``(node, value)`` joining two subtrees with an allowed operator, or None."""
    for op in rng.sample(task.operators, len(task.operators)):
        r, value = right, None
        if op == DIVIDE and isinstance(right, int):
            divisors = [
                d for d in range(max(task.min_operand, 1), task.max_operand + 1) if lv % d == 0
            ]
            if divisors:
                r = rng.choice(divisors)
                value = lv // r
        elif op == DIVIDE:
            value = lv // rv if rv != 0 and lv % rv == 0 else None
        else:
            value = lv + rv if op == PLUS else lv - rv if op == MINUS else lv * rv
        if value is not None and task.min_value <= value <= task.max_value:
            return (op, left, r), value
    return None


def random_tree(rng: random.Random, n: int, task: StepTask) -> tuple[Node, int] | None:
    """One draw of an N-leaf tree with its value by the task's generator version, or None when
    the draw failed (a node with no allowed operator)."""
    if task.version == 2:
        return random_tree_v2(rng, n, task)
    return random_tree_v1(rng, n, task)


def random_tree_v1(rng: random.Random, n: int, task: StepTask) -> tuple[Node, int] | None:
    """Version 1: both subtrees, then the first operator (random order) that applies."""
    if n == 1:
        leaf = rng.randint(
            max(task.min_operand, task.min_value), min(task.max_operand, task.max_value)
        )
        return leaf, leaf
    k = rng.randint(1, n - 1)
    left, right = random_tree_v1(rng, k, task), random_tree_v1(rng, n - k, task)
    if left is None or right is None:
        return None
    return _combine(rng, task, left[0], left[1], right[0], right[1])


def tree_text(node: Node, parent: int = 0, right_child: bool = False) -> str:
    """App. B text of ``node`` with the fewest parentheses that keep the tree's structure."""
    if isinstance(node, int):
        return str(node)
    op, left, right = node
    inner = f"{tree_text(left, PRECEDENCE[op])} {op} {tree_text(right, PRECEDENCE[op], True)}"
    needs = PRECEDENCE[op] < parent or (right_child and PRECEDENCE[op] == parent)
    return f"({inner})" if needs else inner


def draw_expressions(task: StepTask, n: int) -> tuple[list[str], list[str]]:
    """(train, test) expression texts of tier N=n: distinct, disjoint, seeded."""
    # str seeds hash deterministically (sha512); version 1 keeps its original seed string
    tag = f"step-{task.seed}-{n}" if task.version == 1 else f"step-v{task.version}-{task.seed}-{n}"
    rng = random.Random(tag)
    wanted, seen, order = task.n_test + task.n_train, set[str](), list[str]()
    stale, patience = 0, 2_000 + 20 * wanted
    while len(order) < wanted:
        tree = random_tree(rng, n, task)
        text = tree_text(tree[0]) if tree is not None else None
        if text is None or text in seen:
            stale += 1
            if stale > patience:
                raise ValueError(
                    f"StepTask.n_train + n_test = {wanted}: only {len(order)} distinct "
                    f"{n}-operand expressions found in {patience} draws without a new one"
                )
            continue
        stale = 0
        seen.add(text)
        order.append(text)
    return order[task.n_test :], order[: task.n_test]


def make_step_splits(
    task: StepTask,
) -> dict[int, tuple[list[tuple[str, str]], list[tuple[str, str]]]]:
    """``{N: (train, test)}`` with each example ``(expression, solution text)``."""
    out = {}
    for n in task.n_operands:
        train, test = draw_expressions(task, n)
        out[n] = ([(e, solution_text(e)) for e in train], [(e, solution_text(e)) for e in test])
    return out


__all__ = [
    "GENERATOR_VERSIONS",
    "StepTask",
    "draw_expressions",
    "make_step_splits",
    "random_tree",
    "random_tree_v1",
    "tree_text",
]

"""The mod-10 SMOKE task: one-pass arithmetic answers mod 10. NOT the LIMe paper's task (arXiv
2502.09245 v2, §5.3.2 / App. B: step-by-step solutions, see ``step_task``); kept as a quick check.

The paper reports 41.3% (LLaMA) vs 71.6% (LIMe) exact-match accuracy on 6-operand expressions
with 4-layer, 4-head, d_model=32 models, but does not publish its generator. This one is ours;
every choice is fixed here and in :class:`SmokeTask`:

- **Expression.** ``N`` operands drawn uniformly and independently from the integers
  ``min_operand..max_operand`` (default 0..9, so every operand is one character), and ``N - 1``
  operators drawn uniformly from ``operators`` (default ``+ - *``). No parentheses, no spaces.
  Example (N=4): ``7-2*8+3``.
- **Value.** Usual precedence: ``*`` binds tighter than ``+``/``-``, which are left-associative,
  i.e. exactly Python's ``eval`` of the string (see :func:`expression_value`, a plain reference
  evaluator tested against ``eval``).
- **Answer.** With ``modulus`` m (default 10) the answer is ``value mod m`` (Python's ``%``, so
  0..m-1: the ring Z/m, like the finite-field setting of Feng et al. 2023 that synthetic
  expression tasks follow); with ``modulus=None`` it is the exact signed integer (``-`` sign when
  negative). The answer is written in decimal.
- **Sequence.** ``^`` (BOS) + expression + ``=`` + answer + ``$`` (EOS), right-padded with ``.``;
  character vocabulary in :mod:`lime_lens.arithmetic.vocab`. The loss and the accuracy cover the
  answer characters and the EOS only.
- **Split and dedup.** For each N independently, expressions are distinct strings; the test set
  (``n_test`` per N) and the training set (``n_train`` per N) are disjoint. When the space of
  N-operand expressions is not much larger than ``n_train + n_test`` (N=2: 300 expressions with the
  defaults) all of it is enumerated, shuffled with the seed and cut, so the test share is capped at
  ``max_test_fraction`` of the space; otherwise expressions are sampled with a seeded
  ``random.Random`` and duplicates are rejected. Same task, same seed -> identical splits.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

_PRECEDENCE_OPS = frozenset("+-*")


@dataclass
class SmokeTask:
    """Which expressions exist and how train/test sets are drawn (see the module docstring)."""

    n_operands: tuple[int, ...] = (2, 3, 4, 5, 6)
    """The operand counts N to generate (each >= 2)."""
    min_operand: int = 0
    """Smallest operand (>= 0; a negative operand would need a unary minus)."""
    max_operand: int = 9
    """Largest operand."""
    operators: str = "+-*"
    """Operator characters, a non-empty subset of "+-*"."""
    modulus: int | None = 10
    """Answer is the value mod ``modulus`` (>= 2); None: the exact signed integer."""
    n_train: int = 20_000
    """Training expressions per N (fewer when the space is smaller)."""
    n_test: int = 500
    """Test expressions per N (fewer when capped by ``max_test_fraction``)."""
    max_test_fraction: float = 0.2
    """When the whole space is enumerated, at most this share of it goes to the test set."""
    seed: int = 0
    """Seeds everything random in the generator."""

    def __post_init__(self) -> None:
        self.n_operands = tuple(int(n) for n in self.n_operands)
        if not self.n_operands or min(self.n_operands) < 2:
            raise ValueError(
                f"SmokeTask.n_operands must be non-empty and >= 2, got {self.n_operands}"
            )
        if not 0 <= self.min_operand <= self.max_operand:
            raise ValueError(
                f"SmokeTask.min_operand/max_operand must satisfy 0 <= min <= max, "
                f"got {self.min_operand}, {self.max_operand}"
            )
        if (
            not self.operators
            or not set(self.operators) <= _PRECEDENCE_OPS
            or len(set(self.operators)) != len(self.operators)
        ):
            raise ValueError(
                f"SmokeTask.operators must be distinct characters of '+-*', got {self.operators!r}"
            )
        if self.modulus is not None and self.modulus < 2:
            raise ValueError(f"SmokeTask.modulus must be >= 2 or None, got {self.modulus}")
        if self.n_train < 1 or self.n_test < 1:
            raise ValueError(
                f"SmokeTask.n_train and n_test must be >= 1, got {self.n_train}, {self.n_test}"
            )
        if not 0 < self.max_test_fraction < 1:
            raise ValueError(
                f"SmokeTask.max_test_fraction must be in (0, 1), got {self.max_test_fraction}"
            )

    def space_size(self, n: int) -> int:
        """Number of distinct N-operand expressions."""
        return (self.max_operand - self.min_operand + 1) ** n * len(self.operators) ** (n - 1)


def expression_value(expr: str) -> int:
    """Reference evaluator: integer value of ``expr`` with ``*`` before left-associative ``+``/``-``.

    Numbers are runs of digits; the expression has no spaces, parentheses or unary signs.
    """
    terms: list[int] = []  # signed products, summed at the end
    sign, product, number = 1, 1, ""
    for ch in expr + "+":
        if ch.isdigit():
            number += ch
            continue
        if ch not in _PRECEDENCE_OPS or not number:
            raise ValueError(f"malformed expression {expr!r} at {ch!r}")
        product *= int(number)
        number = ""
        if ch == "*":
            continue
        terms.append(sign * product)
        sign, product = (1 if ch == "+" else -1), 1
    return sum(terms)


def answer_of(expr: str, modulus: int | None) -> str:
    """The answer string: the value mod ``modulus`` (or exact when None), in decimal."""
    value = expression_value(expr)
    return str(value % modulus if modulus is not None else value)


def random_expression(rng: random.Random, n: int, task: SmokeTask) -> str:
    """One uniformly drawn N-operand expression."""
    operands = [str(rng.randint(task.min_operand, task.max_operand)) for _ in range(n)]
    ops = [rng.choice(task.operators) for _ in range(n - 1)]
    return "".join(itertools.chain.from_iterable(zip(operands, ops + [""], strict=True)))


def _all_expressions(n: int, task: SmokeTask) -> list[str]:
    digits = [str(d) for d in range(task.min_operand, task.max_operand + 1)]
    out = []
    for operands in itertools.product(digits, repeat=n):
        for ops in itertools.product(task.operators, repeat=n - 1):
            out.append(
                "".join(itertools.chain.from_iterable(zip(operands, (*ops, ""), strict=True)))
            )
    return out


def split_expressions(task: SmokeTask, n: int) -> tuple[list[str], list[str]]:
    """(train, test) expression strings for N=n: distinct, disjoint, seeded (module docstring)."""
    rng = random.Random(f"{task.seed}-{n}")  # str seeds are hashed deterministically (sha512)
    space = task.space_size(n)
    if space <= 4 * (task.n_train + task.n_test):  # small space: enumerate, shuffle, cut
        pool = _all_expressions(n, task)
        rng.shuffle(pool)
        n_test = min(task.n_test, int(task.max_test_fraction * space))
        return pool[n_test : n_test + task.n_train], pool[:n_test]
    seen: set[str] = set()
    test: list[str] = []
    train: list[str] = []
    while len(test) < task.n_test or len(train) < task.n_train:
        expr = random_expression(rng, n, task)
        if expr in seen:
            continue
        seen.add(expr)
        (test if len(test) < task.n_test else train).append(expr)
    return train, test


def make_smoke_splits(
    task: SmokeTask,
) -> dict[int, tuple[list[tuple[str, str]], list[tuple[str, str]]]]:
    """``{N: (train, test)}`` with each example ``(expression, answer)``."""
    out = {}
    for n in task.n_operands:
        train, test = split_expressions(task, n)
        out[n] = (
            [(e, answer_of(e, task.modulus)) for e in train],
            [(e, answer_of(e, task.modulus)) for e in test],
        )
    return out

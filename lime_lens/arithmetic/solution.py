"""Step-by-step solutions (LIMe paper v2, App. B) and the checker of a written solution.

A **reduction** applies one operator whose two operands are numbers and which may run now: the
token before its left operand is the start, ``(`` or an operator of LOWER precedence, and the token
after its right operand is the end, ``)`` or an operator of lower or EQUAL precedence (usual
precedence, left-associative). A number left alone in parentheses loses them in the same step:
``(7 + 5) ÷ 4`` -> ``12 ÷ 4``. Values stay non-negative integers: a reduction that would give a
negative number or an inexact quotient is not one.

The **canonical solution** (App. B) applies the leftmost reduction at every step, which does the
innermost parentheses and the higher precedence first and works left to right within a level;
its text is the steps joined by `` = ``, ending in the value:
``(7 + 5) ÷ (6 + 4 × 3 − 2 × 7)`` -> ``12 ÷ (6 + 4 × 3 − 2 × 7) = 12 ÷ (6 + 12 − 2 × 7) = ... = 3``.

The **checker** accepts any solution whose every step is one reduction of the previous step (not
necessarily the leftmost) and whose final value equals :func:`expression.exact_value` of the
expression, a Fraction evaluation that shares no code with the reductions.
"""

from __future__ import annotations

from typing import NamedTuple

from lime_lens.arithmetic.expression import (
    MINUS,
    PLUS,
    PRECEDENCE,
    TIMES,
    Tokens,
    exact_value,
    is_number,
    render,
    tokenize,
)


def _apply(a: int, op: str, b: int) -> int | None:
    """``a op b`` as a non-negative integer, or None (negative result, inexact or zero division)."""
    if op == PLUS:
        return a + b
    if op == MINUS:
        return a - b if a >= b else None
    if op == TIMES:
        return a * b
    return a // b if b != 0 and a % b == 0 else None


def reducible(tokens: Tokens, i: int) -> bool:
    """Whether the operator at ``tokens[i]`` may be applied now (module docstring)."""
    op = tokens[i]
    if op not in PRECEDENCE or i < 1 or i + 1 >= len(tokens):
        return False
    if not (is_number(tokens[i - 1]) and is_number(tokens[i + 1])):
        return False
    left = tokens[i - 2] if i >= 2 else "("
    right = tokens[i + 2] if i + 2 < len(tokens) else ")"
    left_ok = left == "(" or (left in PRECEDENCE and PRECEDENCE[left] < PRECEDENCE[op])
    right_ok = right == ")" or (right in PRECEDENCE and PRECEDENCE[right] <= PRECEDENCE[op])
    return left_ok and right_ok


def reduce_at(tokens: Tokens, i: int) -> Tokens | None:
    """``tokens`` with the operator at ``i`` applied (parentheses around a lone result dropped);
    None when the result is not a non-negative integer."""
    value = _apply(int(tokens[i - 1]), tokens[i], int(tokens[i + 1]))
    if value is None:
        return None
    lo, hi = i - 1, i + 2
    if lo >= 1 and hi < len(tokens) and tokens[lo - 1] == "(" and tokens[hi] == ")":
        lo, hi = lo - 1, hi + 1
    return [*tokens[:lo], str(value), *tokens[hi:]]


def reductions(tokens: Tokens) -> list[Tokens]:
    """Every one-reduction successor of ``tokens``, leftmost operator first."""
    out = []
    for i in range(len(tokens)):
        if reducible(tokens, i):
            step = reduce_at(tokens, i)
            if step is not None:
                out.append(step)
    return out


def solution_steps(expression: str | Tokens) -> list[Tokens]:
    """The canonical steps after ``expression``, ending in its value (a one-token list)."""
    tokens = tokenize(expression) if isinstance(expression, str) else list(expression)
    steps: list[Tokens] = []
    while len(tokens) > 1:
        successors = reductions(tokens)
        if not successors:
            raise ValueError(f"expression {render(tokens)!r} has no valid reduction")
        tokens = successors[0]
        steps.append(tokens)
    return steps


def solution_text(expression: str | Tokens) -> str:
    """The App. B solution text: canonical steps joined by `` = ``."""
    return " = ".join(render(step) for step in solution_steps(expression))


class SolutionCheck(NamedTuple):
    """The verdict on one written solution of one expression."""

    answer_correct: bool
    """The last step is a single number equal to the expression's exact value."""
    steps_valid: bool
    """Every step is one reduction of the previous (the expression for the first)."""
    first_wrong_step: int | None
    """1-based index of the first step that is not a reduction of the previous; None if none."""
    n_steps: int
    """Steps written (parts between ``=`` signs)."""
    reason: str | None
    """Why the solution is wrong (malformed, wrong step, unfinished, wrong answer); None if right."""


def check_solution(expression: str, solution: str) -> SolutionCheck:
    """Check ``solution`` (steps separated by ``=``, spaces optional) against ``expression``.

    Never raises on a malformed solution: it is wrong, with the reason recorded.
    """
    target = exact_value(expression)
    previous, first_wrong, reason = tokenize(expression), None, None
    parts = solution.split("=")
    for index, part in enumerate(parts, start=1):
        try:
            step = tokenize(part)
        except ValueError:
            first_wrong, reason = index, f"step {index} is malformed: {part.strip()!r}"
            break
        if step not in reductions(previous):
            first_wrong, reason = index, f"step {index} is not one reduction of the previous step"
            break
        previous = step
    last = parts[-1].strip()
    answer_correct = last.isdigit() and int(last) == target
    if reason is None and len(previous) > 1:
        reason = "unfinished: the last step is not a single number"
    if reason is None and not answer_correct:
        reason = "wrong final answer"
    return SolutionCheck(answer_correct, first_wrong is None, first_wrong, len(parts), reason)

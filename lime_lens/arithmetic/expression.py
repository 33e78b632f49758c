"""Expressions of the step-by-step arithmetic task (LIMe paper v2, §5.3.2 and App. B): text, tokens
and the exact value.

An expression is a list of tokens: non-negative integers written in decimal, the operators
``+ − × ÷`` (the paper's symbols) and parentheses. ``×``/``÷`` bind tighter than ``+``/``−``; all
four are left-associative. Text is written as in App. B: tokens separated by one space, none
inside parentheses, e.g. ``(7 + 5) ÷ (6 + 4 × 3 − 2 × 7)``.

:func:`exact_value` is the independent reference the checker compares every solution with: a
recursive-descent parser over :class:`fractions.Fraction` with true division, sharing no code with
the step-by-step reduction in :mod:`lime_lens.arithmetic.solution`.
"""

from __future__ import annotations

import re
from fractions import Fraction

PLUS, MINUS, TIMES, DIVIDE = "+", "−", "×", "÷"
OPERATORS = (PLUS, MINUS, TIMES, DIVIDE)
PRECEDENCE = {PLUS: 1, MINUS: 1, TIMES: 2, DIVIDE: 2}
ASCII_OPERATORS = {"-": MINUS, "*": TIMES, "/": DIVIDE}
"""ASCII spellings accepted on input (``7 - 2 * 3``), normalised to the paper's symbols."""
_TOKEN = re.compile(r"\s*(\d+|[+\-*/−×÷()])")

Tokens = list[str]


def is_number(token: str) -> bool:
    return token.isdigit()


def tokenize(text: str) -> Tokens:
    """Tokens of ``text`` (spaces optional); ValueError naming the first character that is not a
    number, an operator or a parenthesis."""
    tokens, pos, stripped = [], 0, text.rstrip()
    while pos < len(stripped):
        match = _TOKEN.match(stripped, pos)
        if match is None:
            raise ValueError(f"expression {text!r}: unexpected character at {pos}: {text[pos]!r}")
        token = match.group(1)
        tokens.append(ASCII_OPERATORS.get(token, token))
        pos = match.end()
    if not tokens:
        raise ValueError(f"expression {text!r} is empty")
    return tokens


def render(tokens: Tokens) -> str:
    """App. B text: one space between tokens, none after ``(`` or before ``)``."""
    return " ".join(tokens).replace("( ", "(").replace(" )", ")")


def compact(text: str) -> str:
    """``text`` without spaces: what the model reads and writes (see ``step_vocab``)."""
    return text.replace(" ", "")


class _Parser:
    """expr := term (('+'|'−') term)*;  term := atom (('×'|'÷') atom)*;  atom := int | '(' expr ')'."""

    def __init__(self, tokens: Tokens) -> None:
        self.tokens, self.pos = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ValueError(f"expression {render(self.tokens)!r} ends early")
        self.pos += 1
        return token

    def expr(self) -> Fraction:
        value = self.term()
        while self.peek() in (PLUS, MINUS):
            op, rhs = self.take(), self.term()
            value = value + rhs if op == PLUS else value - rhs
        return value

    def term(self) -> Fraction:
        value = self.atom()
        while self.peek() in (TIMES, DIVIDE):
            op, rhs = self.take(), self.atom()
            if op == DIVIDE and rhs == 0:
                raise ValueError(f"expression {render(self.tokens)!r} divides by zero")
            value = value * rhs if op == TIMES else value / rhs
        return value

    def atom(self) -> Fraction:
        token = self.take()
        if is_number(token):
            return Fraction(int(token))
        if token == "(":
            value = self.expr()
            if self.take() != ")":
                raise ValueError(f"expression {render(self.tokens)!r}: unbalanced parentheses")
            return value
        raise ValueError(f"expression {render(self.tokens)!r}: unexpected {token!r}")


def exact_value(expression: str | Tokens) -> Fraction:
    """The exact value of ``expression`` (text or tokens) with true division; ValueError when it
    is not a well-formed expression or divides by zero."""
    tokens = tokenize(expression) if isinstance(expression, str) else list(expression)
    parser = _Parser(tokens)
    value = parser.expr()
    if parser.peek() is not None:
        raise ValueError(f"expression {render(tokens)!r}: unexpected {parser.peek()!r}")
    return value

"""Tokenisation of the step-by-step task: one token per character, spaces dropped.

Why characters: every integer the task can produce is written with the ten digit tokens, most
significant digit first, exactly as in the solution text, so a multi-digit number is a short
sequence of tokens the model already knows (no 100-entry number vocabulary to learn, and nothing
out of vocabulary when a wider value range is chosen). Why no spaces: in App. B's text a space
only separates tokens that are already unambiguous (numbers are delimited by operators,
parentheses and ``=``), so spaces would add about 40% more positions, and attention compute, for
no information. Row: BOS + expression + ``=`` + solution + EOS, right-padded; the loss and the
scores cover the solution and the EOS.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lime_lens.arithmetic.expression import OPERATORS, compact
from lime_lens.arithmetic.vocab import BOS, EOS, EQUALS, PAD, CharVocab

STEP_CHARS = PAD + BOS + EOS + EQUALS + "0123456789" + "".join(OPERATORS) + "()"
"""Every character of the step-by-step task (20 tokens; PAD = 0)."""


def step_vocab() -> CharVocab:
    """The character vocabulary of :data:`STEP_CHARS`."""
    return CharVocab(STEP_CHARS)


def prompt_text(expression: str) -> str:
    """What generation starts from: BOS + the compact expression + ``=``."""
    return f"{BOS}{compact(expression)}{EQUALS}"


def encode_steps(
    examples: Sequence[tuple[str, str]], vocab: CharVocab, length: int | None = None
) -> dict[str, torch.Tensor]:
    """``tokens`` and ``answer_mask`` (solution + EOS) rows of ``(expression, solution)`` pairs."""
    return vocab.encode_examples([(compact(e), compact(s)) for e, s in examples], length)

"""The character-level vocabulary of the arithmetic tasks and the (tokens, answer mask) encoding.

Both tasks use it: :data:`CHARS` (the default) is the mod-10 smoke task's alphabet
(``smoke_task``); the step-by-step task builds its own from ``step_vocab.STEP_CHARS``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Bool, Int64

PAD, BOS, EOS, EQUALS = ".", "^", "$", "="
CHARS = PAD + BOS + EOS + EQUALS + "0123456789+-*"
"""Every character the task uses; a token id is the index of its character here (PAD = 0)."""


class CharVocab:
    """One token per character of :data:`CHARS`; ``decode(encode(s)) == s``."""

    def __init__(self, chars: str = CHARS) -> None:
        if len(set(chars)) != len(chars):
            raise ValueError(f"CharVocab chars must be distinct, got {chars!r}")
        self.chars = chars
        self.index = {ch: i for i, ch in enumerate(chars)}
        self.pad_id, self.bos_id, self.eos_id = self.index[PAD], self.index[BOS], self.index[EOS]

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; an unknown character raises ValueError naming it."""
        try:
            return [self.index[ch] for ch in text]
        except KeyError as err:
            raise ValueError(
                f"character {err.args[0]!r} is not in the arithmetic vocabulary {self.chars!r}"
            ) from None

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """Characters of ``ids``."""
        return "".join(self.chars[int(i)] for i in ids)

    def sequence(self, expression: str, answer: str) -> str:
        """The training string ``^expression=answer$`` (module docstring of ``smoke_task``)."""
        return f"{BOS}{expression}{EQUALS}{answer}{EOS}"

    def encode_examples(
        self, examples: Sequence[tuple[str, str]], length: int | None = None
    ) -> dict[str, torch.Tensor]:
        """Right-padded rows: ``tokens`` [n, length] and ``answer_mask`` [n, length].

        ``answer_mask[i, t]`` is True where token t is an answer character or the EOS: the
        tokens the model must predict (from position t - 1).
        """
        strings = [self.sequence(e, a) for e, a in examples]
        longest = max(len(s) for s in strings)
        length = longest if length is None else length
        if length < longest:
            raise ValueError(
                f"length {length} is shorter than the longest example ({longest} characters)"
            )
        tokens: Int64[torch.Tensor, "n length"] = torch.full(
            (len(strings), length), self.pad_id, dtype=torch.int64
        )
        mask: Bool[torch.Tensor, "n length"] = torch.zeros((len(strings), length), dtype=torch.bool)
        for i, (s, (expression, _)) in enumerate(zip(strings, examples, strict=True)):
            tokens[i, : len(s)] = torch.tensor(self.encode(s))
            mask[i, len(expression) + 2 : len(s)] = True  # after BOS + expression + "="
        return {"tokens": tokens, "answer_mask": mask}

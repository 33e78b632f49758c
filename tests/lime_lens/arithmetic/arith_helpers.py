"""A fake causal "model" with known answers, for testing the accuracy metric against decoding."""

import torch
from torch import nn

from lime_lens.arithmetic.vocab import CharVocab


class ScriptedModel(nn.Module):
    """Predicts the next character of ``^expr=answers[expr]$``, reading only the prefix (causal).

    ``answers`` maps an expression to the answer the model "believes"; it may be wrong, longer
    or shorter than the truth. After the EOS it predicts padding.
    """

    def __init__(self, vocab: CharVocab, answers: dict[str, str]) -> None:
        super().__init__()
        self.vocab, self.answers = vocab, answers
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, tokens: torch.Tensor, return_type: str = "logits") -> torch.Tensor:
        logits = torch.full((*tokens.shape, len(self.vocab)), -10.0)
        for b, row in enumerate(tokens):
            text = self.vocab.decode(row)
            expression = text[1 : text.index("=")] if "=" in text else None
            for t in range(len(text)):
                if expression is None or t < len(expression) + 1:
                    next_char = "."  # before "=" nothing is scored
                else:
                    belief = self.vocab.sequence(expression, self.answers[expression])
                    next_char = belief[t + 1] if t + 1 < len(belief) else "."
                logits[b, t, self.vocab.index[next_char]] = 10.0
        return logits + self.dummy

"""Answer-only loss and exact-match accuracy for the arithmetic task.

Accuracy is exact match of the WHOLE answer (every answer character and the EOS). The fast
path scores all answers in one teacher-forced forward pass: the argmax at every answer position
is correct iff greedy decoding reproduces the answer, because greedy decoding follows the
teacher-forced path until its first wrong token, and one wrong token already fails the match.
:func:`greedy_answers` is the plain reference (token-by-token decoding) the tests compare with.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int64
from torch import nn

from lime_lens.arithmetic.vocab import CharVocab
from lime_lens.train.data import Rows


def answer_loss(model: nn.Module, batch: Rows) -> torch.Tensor:
    """Mean cross-entropy of the answer tokens (a ``loss_fn`` for ``lime_lens.train.train``).

    The trainer's ``LossFn`` takes any ``Rows``; this one needs the mapping with the mask.
    """
    if not isinstance(batch, Mapping):
        raise TypeError("answer_loss needs rows with 'tokens' and 'answer_mask', got a tensor")
    tokens, mask = batch["tokens"], batch["answer_mask"]
    logits: Float[torch.Tensor, "batch pos d_vocab"] = model(tokens, return_type="logits")
    target_mask = mask[:, 1:]
    return F.cross_entropy(logits[:, :-1][target_mask].float(), tokens[:, 1:][target_mask])


def exact_match(
    predicted: Int64[torch.Tensor, "batch pos"],
    tokens: Int64[torch.Tensor, "batch pos"],
    mask: Bool[torch.Tensor, "batch pos"],
) -> Bool[torch.Tensor, " batch"]:
    """True for rows whose ``predicted`` equals ``tokens`` at every masked position."""
    return ((predicted == tokens) | ~mask).all(dim=1)


@torch.no_grad()
def answer_accuracy(
    model: nn.Module, data: Mapping[str, torch.Tensor], batch_size: int = 1024
) -> float:
    """Share of rows whose whole answer (and EOS) the model predicts exactly, greedy."""
    correct = 0
    n = data["tokens"].shape[0]
    was_training = model.training
    model.eval()
    for start in range(0, n, batch_size):
        tokens, mask = (
            data["tokens"][start : start + batch_size],
            data["answer_mask"][start : start + batch_size],
        )
        logits = model(tokens, return_type="logits")
        predicted = torch.cat(
            [tokens[:, :1], logits[:, :-1].argmax(-1)], dim=1
        )  # position t predicts t
        correct += int(exact_match(predicted, tokens, mask).sum())
    model.train(was_training)
    return correct / n


@torch.no_grad()
def greedy_answers(
    model: nn.Module, vocab: CharVocab, expressions: list[str], max_answer_len: int = 8
) -> list[str]:
    """Reference decoding: feed ``^expression=`` and append argmax tokens until EOS (one row at a time)."""
    out = []
    for expression in expressions:
        ids = vocab.encode(f"^{expression}=")
        answer = []
        for _ in range(max_answer_len + 1):
            next_id = int(model(torch.tensor([ids]), return_type="logits")[0, -1].argmax())
            if next_id == vocab.eos_id:
                break
            answer.append(next_id)
            ids.append(next_id)
        else:
            answer.append(-1)  # never ended: cannot match any answer
        out.append("".join(vocab.chars[i] if i >= 0 else "?" for i in answer))
    return out

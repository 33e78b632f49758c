"""Scoring the step-by-step task as the paper does (v2 §5.3.2): open-ended greedy generation of the
solution from the prompt ``expression =``, then the final answer is read from the last ``= value``.

Generation runs with the KV cache (prompts of one length batched together), stops a row at its
EOS, and gives up after ``max_new_tokens`` (or at the model's ``n_ctx``). Every generated solution then goes through
:func:`lime_lens.arithmetic.solution.check_solution`: final-answer accuracy, the first wrong step
(the intermediate-step accuracy), and for every wrong one the reason. A malformed solution is
scored wrong with its reason; it never raises.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any, NamedTuple

import torch
from torch import nn

from lime_lens.arithmetic.solution import SolutionCheck, check_solution
from lime_lens.arithmetic.step_vocab import prompt_text
from lime_lens.arithmetic.vocab import CharVocab
from lime_lens.tl.internals import TransformerLensKeyValueCache


class Generated(NamedTuple):
    """One generated solution."""

    text: str
    """Decoded characters before the EOS (or all of them when none came)."""
    ended: bool
    """An EOS came within ``max_new_tokens``."""


def _generate_batch(
    model: nn.Module, prompts: torch.Tensor, eos_id: int, max_new_tokens: int
) -> torch.Tensor:
    """Greedy continuation ids [batch, <= max_new_tokens] of equal-length ``prompts``."""
    cfg: Any = model.cfg  # a HookedTransformer's config (nn.Module types attributes loosely)
    cache = TransformerLensKeyValueCache.init_cache(cfg, prompts.device, prompts.shape[0])
    ones = torch.ones_like(prompts)
    logits = model(prompts, past_kv_cache=cache, attention_mask=ones)
    next_id = logits[:, -1].argmax(-1)
    out, done = [next_id], next_id == eos_id
    for _ in range(max_new_tokens - 1):
        if bool(done.all()):
            break
        logits = model(next_id[:, None], past_kv_cache=cache, attention_mask=ones[:, :1])
        next_id = logits[:, -1].argmax(-1)
        out.append(next_id)
        done |= next_id == eos_id
    return torch.stack(out, dim=1)


@torch.no_grad()
def generate_solutions(
    model: nn.Module,
    vocab: CharVocab,
    expressions: list[str],
    max_new_tokens: int = 96,
    batch_size: int = 512,
) -> list[Generated]:
    """Greedy solutions of ``expressions`` (in order), with the KV cache."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    prompts = [vocab.encode(prompt_text(e)) for e in expressions]
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, ids in enumerate(prompts):
        by_length[len(ids)].append(i)
    device = next(model.parameters()).device
    out: list[Generated | None] = [None] * len(prompts)
    cfg: Any = model.cfg  # a HookedTransformer's config (nn.Module types attributes loosely)
    was_training = model.training
    model.eval()
    for rows in by_length.values():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            batch = torch.tensor([prompts[i] for i in chunk], device=device)
            room = min(max_new_tokens, cfg.n_ctx - batch.shape[1])  # rotary table length
            if room < 1:
                raise ValueError(f"prompt of {batch.shape[1]} tokens leaves no room in n_ctx")
            rows_out: list[list[int]] = _generate_batch(model, batch, vocab.eos_id, room).tolist()
            for i, row in zip(chunk, rows_out, strict=True):
                ended = vocab.eos_id in row
                text = vocab.decode(row[: row.index(vocab.eos_id)] if ended else row)
                out[i] = Generated(text, ended)
    model.train(was_training)
    return [g for g in out if g is not None]


def score_one(expression: str, generated: Generated) -> SolutionCheck:
    """The checker's verdict; a solution that never ended is wrong whatever its last value."""
    check = check_solution(expression, generated.text)
    if generated.ended:
        return check
    return check._replace(answer_correct=False, reason="no end-of-solution token")


def _kind(reason: str) -> str:
    """The reason without its step number and quoted text, for counting."""
    return re.sub(r"step \d+", "step k", reason.split(":")[0])


def score_tier(
    expressions: list[str], generated: list[Generated], n_operands: int
) -> dict[str, Any]:
    """Accuracy of one tier: final answer, fully valid solutions, steps right before the first
    wrong one (as a share of the N - 1 canonical steps), the reasons of the wrong ones, and
    whether each expression's answer is right (``correct``, a '0'/'1' string in order)."""
    checks = [score_one(e, g) for e, g in zip(expressions, generated, strict=True)]
    n, steps = len(checks), n_operands - 1
    right_steps = [
        min(steps, c.n_steps if c.first_wrong_step is None else c.first_wrong_step - 1)
        for c in checks
    ]
    return {
        "n": n,
        "accuracy": sum(c.answer_correct for c in checks) / n,
        "valid_solution": sum(c.answer_correct and c.steps_valid for c in checks) / n,
        "step_accuracy": sum(right_steps) / (steps * n),
        "first_wrong_step": dict(sorted(Counter(c.first_wrong_step or 0 for c in checks).items())),
        "reasons": dict(Counter(_kind(c.reason) for c in checks if c.reason)),
        # per expression, in order: the paired intervals of ``step_stats`` need them
        "correct": "".join("1" if c.answer_correct else "0" for c in checks),
    }

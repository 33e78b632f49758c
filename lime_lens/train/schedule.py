"""Learning-rate schedules: linear warmup, then cosine or linear decay to a floor (LIMe paper, App. A)."""

from __future__ import annotations

import math


def cosine_with_warmup(
    step: int, peak: float, floor: float, warmup_steps: int, max_steps: int
) -> float:
    """Learning rate for optimizer step ``step`` (0-based).

    ``peak * (step + 1) / warmup_steps`` during warmup, then
    ``floor + (peak - floor) * (1 + cos(pi * t)) / 2`` with ``t`` going 0 -> 1 over the remaining
    steps. A pure function of the step, so a resumed run gets the same rate with no saved state.
    """
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    decay_steps = max(1, max_steps - warmup_steps - 1)
    t = min(1.0, (step - warmup_steps) / decay_steps)
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


def linear_with_warmup(
    step: int, peak: float, floor: float, warmup_steps: int, max_steps: int
) -> float:
    """Linear warmup as :func:`cosine_with_warmup`, then a straight line from ``peak`` down to
    ``floor`` at the last step (the arithmetic recipe's "linear decay", paper v2 App. A)."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    decay_steps = max(1, max_steps - warmup_steps - 1)
    t = min(1.0, (step - warmup_steps) / decay_steps)
    return peak + (floor - peak) * t


SCHEDULES = {"cosine": cosine_with_warmup, "linear": linear_with_warmup}
"""``TrainConfig.schedule`` name -> learning rate of a step (same signature)."""

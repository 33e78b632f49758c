"""Arithmetic tasks for LIMe (Gerasimov et al., arXiv 2502.09245 v2).

The paper's task (§5.3.2, App. A/B): expressions of N operands with + − × ÷ and parentheses,
solved step by step (``step_task``, ``solution``, ``expression``, ``step_vocab``, ``scoring``,
``step_recipe``, ``step_experiment``). The mod-10 one-pass smoke task (``smoke_task``,
``smoke_experiment``, with ``metrics``) is a quick pipeline check, not the paper's task. ``vocab``
is the character vocabulary both tasks use.
"""

from lime_lens.arithmetic.expression import exact_value
from lime_lens.arithmetic.metrics import answer_accuracy, answer_loss, exact_match, greedy_answers
from lime_lens.arithmetic.scoring import Generated, generate_solutions, score_tier
from lime_lens.arithmetic.smoke_experiment import (
    PAPER_SHAPE,
    SmokeData,
    SmokeRun,
    encode_smoke_task,
    train_smoke,
)
from lime_lens.arithmetic.smoke_task import (
    SmokeTask,
    answer_of,
    expression_value,
    make_smoke_splits,
)
from lime_lens.arithmetic.solution import SolutionCheck, check_solution, solution_text
from lime_lens.arithmetic.step_experiment import StepRun, run_step_experiment
from lime_lens.arithmetic.step_recipe import STEP_ARCHES, STEP_EPOCHS, STEP_SHAPE, STEP_TRAIN
from lime_lens.arithmetic.step_task import StepTask, make_step_splits
from lime_lens.arithmetic.step_vocab import encode_steps, step_vocab
from lime_lens.arithmetic.vocab import CharVocab

__all__ = [
    "PAPER_SHAPE",
    "STEP_ARCHES",
    "STEP_EPOCHS",
    "STEP_SHAPE",
    "STEP_TRAIN",
    "SmokeData",
    "SmokeRun",
    "SmokeTask",
    "CharVocab",
    "Generated",
    "SolutionCheck",
    "StepRun",
    "StepTask",
    "answer_accuracy",
    "answer_loss",
    "answer_of",
    "check_solution",
    "encode_steps",
    "encode_smoke_task",
    "exact_match",
    "exact_value",
    "expression_value",
    "generate_solutions",
    "greedy_answers",
    "make_smoke_splits",
    "make_step_splits",
    "run_step_experiment",
    "score_tier",
    "solution_text",
    "step_vocab",
    "train_smoke",
]

"""Multi-operand arithmetic expressions (LIMe paper v2, §6): seeded generator, vocabulary, metrics, runs."""

from lime_lens.arithmetic.experiment import (
    PAPER_SHAPE,
    ArithmeticData,
    ArithmeticRun,
    encode_task,
    train_arithmetic,
)
from lime_lens.arithmetic.generator import ArithmeticTask, answer_of, expression_value, make_splits
from lime_lens.arithmetic.metrics import answer_accuracy, answer_loss, exact_match, greedy_answers
from lime_lens.arithmetic.vocab import CharVocab

__all__ = [
    "PAPER_SHAPE",
    "ArithmeticData",
    "ArithmeticRun",
    "ArithmeticTask",
    "CharVocab",
    "answer_accuracy",
    "answer_loss",
    "answer_of",
    "encode_task",
    "exact_match",
    "expression_value",
    "greedy_answers",
    "make_splits",
    "train_arithmetic",
]

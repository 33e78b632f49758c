"""The step-by-step task (LIMe v2 §5.3.2, App. B): generator, solution writer, checker, tokenisation."""

import random
import re
from fractions import Fraction

import pytest
import torch

from lime_lens.arithmetic.expression import exact_value, render, tokenize
from lime_lens.arithmetic.solution import check_solution, reductions, solution_steps, solution_text
from lime_lens.arithmetic.step_task import StepTask, draw_expressions, make_step_splits
from lime_lens.arithmetic.step_vocab import STEP_CHARS, encode_steps, step_vocab

APP_B_INPUT = "(7 + 5) ÷ (6 + 4 × 3 − 2 × 7)"
APP_B_OUTPUT = (
    "12 ÷ (6 + 4 × 3 − 2 × 7) = 12 ÷ (6 + 12 − 2 × 7) = 12 ÷ (18 − 2 × 7) = 12 ÷ (18 − 14) "
    "= 12 ÷ 4 = 3"
)


def test_the_app_b_example_gives_exactly_the_paper_solution_text():
    assert solution_text(APP_B_INPUT) == APP_B_OUTPUT
    assert check_solution(APP_B_INPUT, APP_B_OUTPUT) == (True, True, None, 6, None)


def _check_generated_tier(n: int, n_samples: int) -> None:
    task = StepTask(
        n_operands=(n,), n_train=n_samples - n_samples // 10, n_test=n_samples // 10, seed=3
    )
    train, test = draw_expressions(task, n)
    for expression in train + test:
        tokens = tokenize(expression)
        assert sum(t.isdigit() for t in tokens) == n
        steps = solution_steps(tokens)
        assert len(steps) == n - 1  # one reduction per step
        previous = tokens
        for step in steps:  # canonical: the leftmost reduction; values integer in range
            assert step == reductions(previous)[0]
            assert all(0 <= int(t) <= 99 for t in step if t.isdigit())
            previous = step
        check = check_solution(expression, " = ".join(render(s) for s in steps))
        assert check.answer_correct and check.steps_valid and check.reason is None
        assert Fraction(int(steps[-1][0])) == exact_value(expression)


@pytest.mark.slow
@pytest.mark.parametrize("n", [4, 5, 6])
def test_the_checker_passes_every_generated_sample_10000_per_tier(n):
    _check_generated_tier(n, 10_000)


@pytest.mark.parametrize("n", [4, 5, 6])
def test_the_checker_passes_every_generated_sample_500_per_tier(n):
    _check_generated_tier(n, 500)


def test_exact_value_agrees_with_python_true_division_on_random_expressions():
    rng = random.Random(0)
    for _ in range(500):
        parts = [str(rng.randint(1, 9))]
        for _ in range(rng.randint(1, 6)):
            parts += [rng.choice("+-*/"), str(rng.randint(1, 9))]
        if rng.random() < 0.5:
            i = 2 * rng.randint(0, len(parts) // 2 - 1)
            parts.insert(i, "(")
            parts.insert(i + 4, ")")
        text = " ".join(parts)
        assert exact_value(text) == eval(text.replace("/", "*Fraction(1)/"))


def test_splits_are_distinct_disjoint_seeded_and_sized():
    task = StepTask(n_train=500, n_test=100, seed=5)
    splits = make_step_splits(task)
    assert make_step_splits(task) == splits
    for train, test in splits.values():
        assert len(train) == 500 and len(test) == 100
        exprs = [e for e, _ in train + test]
        assert len(set(exprs)) == len(exprs)
    other = make_step_splits(StepTask(n_train=500, n_test=100, seed=6))
    assert other[6][0][:10] != splits[6][0][:10]


def test_every_operator_and_parentheses_occur():
    train, _ = draw_expressions(StepTask(n_train=1_000, n_test=10), 6)
    text = "".join(train)
    assert all(symbol in text for symbol in "+−×÷()")


def test_a_different_legal_order_is_accepted_and_skipped_or_wrong_steps_are_located():
    expression = "2 × 3 + 4 × 5"
    assert check_solution(expression, "2 × 3 + 20 = 6 + 20 = 26").steps_valid  # not leftmost
    skipped = check_solution(expression, "6 + 20 = 26")  # two reductions in step 1
    assert skipped.first_wrong_step == 1 and skipped.answer_correct and not skipped.steps_valid
    wrong = check_solution(expression, "6 + 4 × 5 = 6 + 21 = 27")
    assert (wrong.answer_correct, wrong.first_wrong_step) == (False, 2)
    lucky = check_solution(expression, "6 + 4 × 5 = 25 = 26")  # right answer, wrong steps
    assert lucky.answer_correct and lucky.first_wrong_step == 2
    precedence = check_solution(expression, "2 × 7 × 5 = 70")  # 3 + 4 before ×: illegal
    assert precedence.first_wrong_step == 1


@pytest.mark.parametrize(
    "solution, reason",
    [
        ("", "malformed"),
        ("6 + 4 × 5 = ", "malformed"),
        ("6 + 4 × 5 = 6 + ! = 26", "malformed"),
        ("6 + 4 × 5 = 6 + 20", "unfinished"),
        ("((((", "not one reduction"),
    ],
)
def test_a_malformed_solution_is_wrong_with_its_reason_and_never_raises(solution, reason):
    check = check_solution("2 × 3 + 4 × 5", solution)
    assert not (check.answer_correct and check.steps_valid)
    assert reason in check.reason


def test_character_tokens_round_trip_and_the_mask_covers_the_solution_and_eos():
    vocab = step_vocab()
    rows = encode_steps([(APP_B_INPUT, APP_B_OUTPUT)], vocab, length=80)
    text = vocab.decode(rows["tokens"][0])
    assert text.rstrip(".") == "^(7+5)÷(6+4×3−2×7)=" + APP_B_OUTPUT.replace(" ", "") + "$"
    masked = vocab.decode(rows["tokens"][0][rows["answer_mask"][0]])
    assert masked == APP_B_OUTPUT.replace(" ", "") + "$"
    assert len(vocab) == len(STEP_CHARS) == 20
    assert torch.equal(rows["answer_mask"][0][:19], torch.zeros(19, dtype=torch.bool))


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(n_operands=(1, 4)), "n_operands"),
        (dict(n_operands=()), "n_operands"),
        (dict(min_operand=5, max_operand=4), "min_operand..max_operand"),
        (dict(min_value=10, max_value=9), "min_value..max_value"),
        (dict(min_operand=1, max_operand=9, min_value=50, max_value=99), "overlap"),
        (dict(operators="+x"), "operators"),
        (dict(n_test=0), "n_test"),
        (
            dict(n_operands=(2,), operators="+", max_operand=2, n_train=5, n_test=5),
            "n_train + n_test",
        ),
    ],
)
def test_bad_tasks_raise_naming_the_field(kwargs, field):
    with pytest.raises(
        ValueError, match=re.escape(f"StepTask.{field}") if field != "overlap" else field
    ):
        StepTask(**kwargs)


def test_asking_for_more_unique_expressions_than_the_constraints_allow_raises():
    # 2 operands of 1..2 with "+": 4 texts under the bound, but only 1 + 1, 1 + 2, 2 + 1 keep
    # values <= 3; asking for 4 cannot be met.
    task = StepTask(n_operands=(2,), operators="+", max_operand=2, max_value=3, n_train=3, n_test=1)
    with pytest.raises(ValueError, match="n_train \\+ n_test"):
        draw_expressions(task, 2)


def test_a_task_survives_a_json_round_trip():
    import dataclasses
    import json

    task = StepTask(n_operands=(4, 6), n_train=10, n_test=3, seed=2)
    again = StepTask(**json.loads(json.dumps(dataclasses.asdict(task))))
    assert again == task and again.n_operands == (4, 6)

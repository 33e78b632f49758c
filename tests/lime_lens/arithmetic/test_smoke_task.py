import random

import pytest

from lime_lens.arithmetic.smoke_task import (
    SmokeTask,
    answer_of,
    expression_value,
    make_smoke_splits,
    random_expression,
    split_expressions,
)

SMALL = dict(n_operands=(2, 3, 5), n_train=300, n_test=50)


def test_same_seed_gives_identical_splits_and_another_seed_differs():
    first, again = (
        make_smoke_splits(SmokeTask(**SMALL, seed=3)),
        make_smoke_splits(SmokeTask(**SMALL, seed=3)),
    )
    other = make_smoke_splits(SmokeTask(**SMALL, seed=4))
    assert first == again
    assert first[5] != other[5]


@pytest.mark.parametrize("modulus", [10, 7, None])
def test_every_answer_equals_python_eval_of_its_expression(modulus):
    splits = make_smoke_splits(SmokeTask(**SMALL, modulus=modulus))
    for train, test in splits.values():
        for expression, answer in train + test:
            value = eval(expression)
            assert answer == str(value % modulus if modulus else value)


def test_reference_evaluator_matches_python_eval_with_multi_digit_operands():
    rng = random.Random(0)
    task = SmokeTask(min_operand=0, max_operand=120)
    for n in range(2, 9):
        for _ in range(200):
            expression = random_expression(rng, n, task)
            assert expression_value(expression) == eval(expression)


def test_train_and_test_are_distinct_disjoint_and_have_the_requested_sizes():
    task = SmokeTask(**SMALL)
    for n in task.n_operands:
        train, test = split_expressions(task, n)
        assert len(set(train)) == len(train) and len(set(test)) == len(test)
        assert not set(train) & set(test)
        space = task.space_size(n)
        assert len(test) == min(task.n_test, int(task.max_test_fraction * space))


def test_expressions_have_n_operands_from_the_range_and_the_allowed_operators():
    task = SmokeTask(
        n_operands=(4,), min_operand=2, max_operand=5, operators="-*", n_train=100, n_test=20
    )
    train, test = split_expressions(task, 4)
    for expression in train + test:
        operands, operators = expression[0::2], expression[1::2]
        assert len(operands) == 4 and set(operands) <= set("2345")
        assert len(operators) == 3 and set(operators) <= set("-*")


def test_small_space_is_enumerated_with_the_test_share_capped():
    task = SmokeTask(n_operands=(2,), n_train=10_000, n_test=500)  # 10 * 10 * 3 = 300 expressions
    train, test = split_expressions(task, 2)
    assert task.space_size(2) == 300
    assert (len(train), len(test)) == (240, 60)
    assert len(set(train) | set(test)) == 300


def test_exact_answers_keep_the_sign_and_modular_answers_are_residues():
    assert answer_of("2-3*4", None) == "-10"
    assert answer_of("2-3*4", 10) == "0"
    assert answer_of("9*9+9", 10) == "0"
    assert answer_of("1-9", 10) == "2"


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("n_operands", {"n_operands": (1, 3)}),
        ("min_operand", {"min_operand": -1}),
        ("operators", {"operators": "+/"}),
        ("modulus", {"modulus": 1}),
        ("n_train", {"n_train": 0}),
        ("max_test_fraction", {"max_test_fraction": 1.0}),
    ],
)
def test_invalid_task_fields_raise_naming_the_field(field, kwargs):
    with pytest.raises(ValueError, match=field):
        SmokeTask(**kwargs)


def test_malformed_expression_is_refused():
    with pytest.raises(ValueError, match="malformed"):
        expression_value("3+*4")

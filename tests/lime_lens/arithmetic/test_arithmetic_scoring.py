"""Scoring by greedy generation (LIMe v2 §5.3.2), the paper recipe's sizes and the curve run."""

import pytest
import torch

from lime_lens.arithmetic.scoring import Generated, generate_solutions, score_one, score_tier
from lime_lens.arithmetic.step_experiment import StepRun, run_step_experiment
from lime_lens.arithmetic.step_recipe import STEP_ARCHES, STEP_SHAPE
from lime_lens.arithmetic.step_task import StepTask
from lime_lens.arithmetic.step_vocab import prompt_text, step_vocab
from lime_lens.train.architectures import ModelShape, build_model, count_params

SMALL = ModelShape(
    n_layers=2, d_model=16, n_heads=2, n_key_value_heads=None, d_head=8, d_mlp=32, n_ctx=64
)


@torch.no_grad()
def _greedy_without_cache(model, vocab, expression, max_new_tokens):
    ids = vocab.encode(prompt_text(expression))
    out = []
    for _ in range(max_new_tokens):
        next_id = int(model(torch.tensor([ids + out]))[0, -1].argmax())
        if next_id == vocab.eos_id:
            return Generated(vocab.decode(out), True)
        out.append(next_id)
    return Generated(vocab.decode(out), False)


@pytest.mark.parametrize("arch", STEP_ARCHES)
def test_kv_cached_batched_generation_equals_uncached_greedy_decoding(arch):
    vocab = step_vocab()
    model = build_model(arch, SMALL, len(vocab), seed=1)
    with torch.no_grad():  # a bias towards EOS so that some rows end early, others do not
        model.unembed.b_U[vocab.eos_id] += 0.3
    exprs = ["(7 + 5) ÷ 4", "2 × 3 + 4 × 5", "1 + 2", "9 − 3 × 2", "8 ÷ 2 ÷ 2"]
    cached = generate_solutions(model, vocab, exprs, max_new_tokens=12, batch_size=2)
    assert cached == [_greedy_without_cache(model, vocab, e, 12) for e in exprs]


def test_score_tier_counts_answers_steps_and_reasons_without_raising():
    exprs = ["2 × 3 + 4 × 5"] * 5
    generated = [
        Generated("6+4×5=6+20=26", True),  # right
        Generated("6+4×5=6+21=27", True),  # wrong at step 2
        Generated("26", True),  # right answer, skipped steps
        Generated("6+4×5=6+20=26", False),  # never ended: wrong
        Generated("×××=((", True),  # malformed
    ]
    score = score_tier(exprs, generated, n_operands=4)
    assert score["n"] == 5
    assert score["accuracy"] == pytest.approx(2 / 5)
    assert score["valid_solution"] == pytest.approx(1 / 5)
    # steps right before the first wrong one, out of N - 1 = 3: 3, 1, 0, 3, 0
    assert score["step_accuracy"] == pytest.approx(7 / 15)
    assert score["first_wrong_step"] == {0: 2, 1: 2, 2: 1}
    assert score["reasons"]["no end-of-solution token"] == 1
    assert score_one(exprs[0], generated[3]).answer_correct is False


def test_the_paper_recipe_models_have_equal_parameters_within_one_percent():
    counts = [count_params(build_model(a, STEP_SHAPE, len(step_vocab()))) for a in STEP_ARCHES]
    assert abs(counts[0] - counts[1]) / min(counts) < 0.01
    cfg = build_model("lime-kv", STEP_SHAPE, 20).cfg
    assert (cfg.n_layers, cfg.n_heads, cfg.d_model) == (4, 4, 32)


def test_the_curve_run_scores_every_model_at_every_point_on_one_schedule():
    task = StepTask(n_operands=(4, 5), n_train=64, n_test=8)
    run = StepRun(task=task, epochs=2.0, n_points=2, eval_per_tier=4, shape=SMALL)
    seen = []
    record = run_step_experiment(run, on_point=lambda r: seen.append(len(r["runs"][0]["curve"])))
    assert seen == [1, 2]
    assert record["max_steps"] == 2 * record["steps_per_epoch"] == 2
    for entry in record["runs"]:
        assert [p["step"] for p in entry["curve"]] == [1, 2]
        assert set(entry["curve"][-1]["tiers"]) == {4, 5}
        assert entry["curve"][-1]["tiers"][5]["n"] == 4


def test_bad_run_settings_raise_naming_the_field():
    with pytest.raises(ValueError, match="StepRun.epochs"):
        StepRun(task=StepTask(n_train=10, n_test=2), epochs=0.0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate_solutions(build_model("vanilla", SMALL, 20), step_vocab(), ["1 + 2"], 0)


def test_a_time_budget_caps_the_schedule_at_what_fits_after_setup_and_evaluations(monkeypatch):
    from lime_lens.arithmetic import step_experiment

    monkeypatch.setattr(step_experiment, "_seconds_per_step", lambda run, rows, d_vocab: 1.0)
    rows = {"tokens": torch.zeros(128 * 50, 4, dtype=torch.long)}  # 50 steps per epoch
    task = StepTask(n_train=10, n_test=2)
    run = StepRun(task=task, epochs=10.0, n_points=4, time_budget_s=100.0)
    # 100 s - 10 s spent - 4 points x 5 s of evaluation = 70 steps of 1 s (69 once the
    # planning's own microseconds count), under 10 epochs
    per_epoch, max_steps = step_experiment.plan_steps(run, rows, 20, eval_s=5.0, spent_s=10.0)
    assert per_epoch == 50 and max_steps in (69, 70)
    short = StepRun(task=task, epochs=1.0, n_points=4, time_budget_s=100.0)
    assert step_experiment.plan_steps(short, rows, 20, eval_s=5.0, spent_s=10.0) == (50, 50)
    tight = StepRun(task=task, epochs=1.0, n_points=4, time_budget_s=30.0)
    with pytest.raises(ValueError, match="StepRun.time_budget_s"):
        step_experiment.plan_steps(tight, rows, 20, eval_s=5.0, spent_s=10.0)

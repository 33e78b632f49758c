"""The resumable 4-model arithmetic run (lime_lens.arithmetic.scale_run) on a tiny task."""

from __future__ import annotations

import json

import pytest

from lime_lens.arithmetic.scale_run import RECORD, ScaleRun, run_scale
from lime_lens.arithmetic.step_task import StepTask

TINY = dict(n_operands=(3,), n_train=64, n_test=3, seed=0)


def _run(out, **overrides):
    base = dict(
        out=str(out), epochs=2.0, n_points=2, seeds=(0,), checkpoint_every=1, task=StepTask(**TINY)
    )
    return ScaleRun(**{**base, **overrides})


@pytest.mark.slow
def test_a_session_budget_pauses_and_the_same_command_continues(tmp_path):
    first = run_scale(_run(tmp_path, session_budget_s=1e-9))  # stops after the first point
    assert [c["step"] for c in first["curve"]] == [1] and not first["finished"]
    second = run_scale(_run(tmp_path))
    assert [c["step"] for c in second["curve"]] == [1, 2] and second["finished"]
    assert second["sessions"][1]["started_at_step"] == 1
    tier = second["curve"][-1]["models"]["lime-kv-0"]["tiers"]["3"]
    assert tier["n"] == 3  # the full test set of the tier
    # finished: running again trains and scores nothing new
    assert run_scale(_run(tmp_path))["curve"] == second["curve"]


@pytest.mark.slow
def test_resuming_with_a_changed_setting_raises_naming_it_and_writes_nothing(tmp_path):
    run_scale(_run(tmp_path, session_budget_s=1e-9))
    before = (tmp_path / RECORD).read_text()
    with pytest.raises(ValueError, match=r"run\.epochs was 2\.0 in the saved run, now 3\.0"):
        run_scale(_run(tmp_path, epochs=3.0))
    with pytest.raises(ValueError, match=r"run\.task\.n_train was 64"):
        run_scale(_run(tmp_path, task=StepTask(**{**TINY, "n_train": 65})))
    assert (tmp_path / RECORD).read_text() == before
    assert json.loads(before)["max_steps"] == 2

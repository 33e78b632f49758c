"""``experiments.lime_arithmetic.{collect_scale,render_scale}``: the scale run's record, its
provenance, and the pre-registered rule, applied only once the run has ended."""

from __future__ import annotations

import json

import pytest

from experiments.lime_arithmetic.collect_scale import collect
from experiments.lime_arithmetic.render_scale import BUDGET_HOURS, lowest, render, verdict
from lime_lens.arithmetic.scale_run import RECORD, ScaleRun, settings
from lime_lens.arithmetic.step_task import StepTask

N = 20
TIERS = ("4", "5", "6")


def _bits(n_right: int) -> str:
    return "1" * n_right + "0" * (N - n_right)


def _entry(right: dict[str, dict[str, int]], epoch: float = 1.0) -> dict:
    """right[arch][tier] = how many of the N expressions each seed of ``arch`` gets right."""
    models = {
        f"{arch}-{seed}": {
            "tiers": {
                t: {"n": N, "accuracy": k / N, "correct": _bits(k)} for t, k in per_tier.items()
            }
        }
        for arch, per_tier in right.items()
        for seed in (0, 1)
    }
    return {"step": 10, "epoch": epoch, "train_s": 60.0, "score_s": 30.0, "models": models}


def _record(entries: list[dict], finished: bool, wall_s: float = 600.0) -> dict:
    task = StepTask(n_train=64, n_test=N)
    return {
        "run": settings(ScaleRun(out="run", epochs=2.0, task=task)),
        "curve": entries,
        "sessions": [{"started_at_step": 0, "ended_at_step": 10, "wall_s": wall_s}],
        "max_steps": 20,
        "steps_per_epoch": 10,
        "points": [10, 20],
        "finished": finished,
        "invocations": [
            {
                "command": "python -m lime_lens.arithmetic.scale_run --out run --epochs 2",
                "git_commit_at_collection": "0" * 40,
                "collected_at": "2026-01-01T00:00:00+00:00",
                "machine": {"cpu": "cpu", "cpu_count": 2, "torch": "2"},
            }
        ],
    }


def test_verdict_is_the_preregistered_rule():
    ahead = _entry({"lime-kv": dict.fromkeys(TIERS, 18), "vanilla": dict.fromkeys(TIERS, 2)})
    assert verdict(ahead, [0, 1], list(TIERS)).startswith("supported at this scale")
    # both solve a sizeable share at N = 6, LIMe-kv not ahead
    tie = _entry({"lime-kv": dict.fromkeys(TIERS, 10), "vanilla": dict.fromkeys(TIERS, 10)})
    assert verdict(tie, [0, 1], list(TIERS)).startswith("not reproduced")
    # ahead at 5 only, and nobody reaches 20% at 6 (3 of 20 = 15%)
    low = _entry({"lime-kv": {"4": 3, "5": 18, "6": 3}, "vanilla": {"4": 3, "5": 2, "6": 3}})
    assert verdict(low, [0, 1], list(TIERS)).startswith("not tested at this scale")


def test_no_verdict_until_the_run_ends_by_epochs_or_by_the_hour_budget():
    entry = _entry({"lime-kv": dict.fromkeys(TIERS, 12), "vanilla": dict.fromkeys(TIERS, 8)})
    running, _ = render(_record([entry], finished=False), "x.json")
    assert "Verdict: none yet" in running and "**Verdict** (" not in running
    done, _ = render(_record([entry], finished=True), "x.json")
    assert "**Verdict** (pre-registered rule; E epochs reached)" in done
    spent, _ = render(_record([entry], finished=False, wall_s=BUDGET_HOURS * 3600), "x.json")
    assert "budget spent before E: taken at the last point, 1.00 of 2 epochs)" in spent


def test_the_ended_page_states_the_lowest_accuracy_of_any_model_in_any_tier():
    entry = _entry({"lime-kv": {"4": 20, "5": 19, "6": 18}, "vanilla": {"4": 20, "5": 17, "6": 19}})
    assert lowest(entry, [0, 1], list(TIERS)) == (0.85, "vanilla-0", "5")
    done, _ = render(_record([entry], finished=True), "x.json")
    assert "lowest accuracy of any model in any tier is 85.0% (vanilla-0, N = 5)" in done
    assert "within 15.0 points of 100%" in done


def test_table_shows_the_paired_difference_in_points():
    # 12 vs 8 right of 20 for both seeds: +20.0 points
    entry = _entry({"lime-kv": dict.fromkeys(TIERS, 12), "vanilla": dict.fromkeys(TIERS, 8)})
    text, fig = render(_record([entry], finished=False), "x.json")
    row = next(line for line in text.splitlines() if line.startswith("| 10 |"))
    assert "| 60.0 | 60.0 | 40.0 | 40.0 | +20.0 (" in row
    assert fig is not None and len(fig.axes) == len(TIERS)


def test_collect_adds_provenance_per_invocation_and_refuses_another_run(tmp_path):
    run_dir, dest = tmp_path / "run", tmp_path / "scale.json"
    run_dir.mkdir()
    record = _record([], finished=False)
    record.pop("invocations")
    (run_dir / RECORD).write_text(json.dumps(record))
    first = collect(run_dir, 1.4, dest)
    assert len(first["invocations"]) == 1
    assert first["invocations"][0]["command"].endswith("--epochs 2 --session-hours 1.4")
    record["sessions"].append({"started_at_step": 10})
    (run_dir / RECORD).write_text(json.dumps(record))
    second = collect(run_dir, 1.0, dest, note="stopped by hand after point 1")
    assert second["invocations"][0] == first["invocations"][0] and len(second["invocations"]) == 2
    assert "note" not in first["invocations"][0]
    assert second["invocations"][1]["note"] == "stopped by hand after point 1"
    record["run"]["epochs"] = 3.0
    (run_dir / RECORD).write_text(json.dumps(record))
    before = dest.read_text()
    with pytest.raises(ValueError, match="scale.json holds a run of other settings"):
        collect(run_dir, 1.0, dest)
    assert dest.read_text() == before


def test_a_collected_note_is_printed_under_the_invocation_table():
    record = _record(
        [_entry({"lime-kv": dict.fromkeys(TIERS, 10), "vanilla": dict.fromkeys(TIERS, 10)})], False
    )
    assert "Invocation 1:" not in render(record, "scale.json")[0]
    record["invocations"][0]["note"] = "stopped by hand after point 1"
    page = render(record, "scale.json")[0]
    table_end = page.index("| 1 | 0 | 10 |")
    assert page.index("Invocation 1: stopped by hand after point 1") > table_end

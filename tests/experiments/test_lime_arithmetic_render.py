"""``experiments.lime_arithmetic.render``: the committed report is the rendering of the committed JSON."""

import copy
import json

import pytest

from experiments.lime_arithmetic.render import RESULT, render


@pytest.fixture(scope="module")
def payload():
    return json.loads(RESULT.read_text())


def test_the_committed_report_is_the_rendering_of_the_committed_json(payload, tmp_path):
    committed = RESULT.with_suffix(".md").read_text()
    png = tmp_path / "lime_arithmetic_curves.png"
    assert (
        render(copy.deepcopy(payload), "experiments/lime_arithmetic/lime_arithmetic.json", png)
        == committed
    )
    assert png.stat().st_size > 0


def test_changing_an_accuracy_in_the_json_changes_the_report(payload, tmp_path):
    png = tmp_path / "curves.png"
    before = render(copy.deepcopy(payload), "x.json", png)
    changed = copy.deepcopy(payload)
    last = changed["runs"][0]["curve"][-1]["tiers"]["6"]
    last["accuracy"] = 1.0 - last["accuracy"]
    after = render(changed, "x.json", png)
    assert before != after
    assert f"{100 * last['accuracy']:.1f}" in after


def test_a_model_above_the_constant_answer_is_named_and_the_seeds_are_not_pooled(payload, tmp_path):
    """Issue 24: LIMe-kv at N=4 scores above a constant answer; the SE over seeds is not the
    pooled one (the seeds score the same expressions)."""
    from experiments.lime_arithmetic.render import runs_at_last_point
    from experiments.lime_arithmetic.stats import constant_answer_pct, difference

    runs = runs_at_last_point(payload)
    const = constant_answer_pct(payload, "4")
    lime = [100 * r["curve"][-1]["tiers"]["4"]["accuracy"] for r in runs["lime-kv"]]
    text = render(copy.deepcopy(payload), "x.json", tmp_path / "c.png")
    line = next(x for x in text.splitlines() if x.startswith("- N=4"))
    assert all(v > const for v in lime) and "above it: lime-kv seed 0, lime-kv seed 1" in line
    d = difference(runs, "4")
    assert d.se == pytest.approx(sum(s for _, s in d.per_seed.values()) / len(d.per_seed))
    assert "20%" in text.split("### Addendum")[1]

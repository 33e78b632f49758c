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

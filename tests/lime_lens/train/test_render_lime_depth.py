"""``scripts/render_lime_depth.py``: the committed report is the rendering of the committed JSON."""

import copy
import json
from pathlib import Path

import pytest
from render_lime_depth import render, summarise  # scripts/, see conftest.py

RESULT = Path(__file__).resolve().parents[3] / "results" / "lime_depth.json"


@pytest.fixture(scope="module")
def payload():
    return json.loads(RESULT.read_text())


def test_the_committed_report_is_the_rendering_of_the_committed_json(payload, tmp_path):
    committed = RESULT.with_suffix(".md").read_text()
    assert (
        render(copy.deepcopy(payload), "results/lime_depth.json", tmp_path / "r.png") == committed
    )


def test_the_difference_per_depth_is_lime_minus_vanilla_of_the_raw_runs(payload):
    for depth, row in summarise(payload["runs"]).items():
        if "diff" not in row:
            continue
        lime = [
            r["val_loss"] for r in payload["runs"] if r["depth"] == depth and r["arch"] == "lime-kv"
        ]
        base = [
            r["val_loss"] for r in payload["runs"] if r["depth"] == depth and r["arch"] == "vanilla"
        ]
        assert row["diff"] == pytest.approx(
            sum(lime) / len(lime) - sum(base) / len(base), abs=1e-12
        )


def test_every_depth_compares_models_with_equal_parameters_within_one_percent(payload):
    for row in summarise(payload["runs"]).values():
        if "diff" in row:
            a, b = row["lime-kv"]["n_params"], row["vanilla"]["n_params"]
            assert abs(a - b) / min(a, b) < 0.01

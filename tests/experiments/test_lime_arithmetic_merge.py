"""``experiments.lime_arithmetic.merge``: further seeds join a run only on the same schedule."""

import copy
import json

import pytest

from experiments.lime_arithmetic.merge import merge
from experiments.lime_arithmetic.render import RESULT


@pytest.fixture(scope="module")
def committed():
    return json.loads(RESULT.read_text())


def _seed_only(payload, seed):
    part = copy.deepcopy(payload)
    part["runs"] = [r for r in part["runs"] if r["seed"] == seed]
    part.pop("more_seeds", None)
    part["meta"] = {**part["meta"], "command": f"run --seeds {seed}"}
    return part


def test_merging_seed_1_into_seed_0_gives_the_committed_runs(committed):
    merged = merge(_seed_only(committed, 0), _seed_only(committed, 1), "s1.json")
    assert merged["runs"] == committed["runs"]
    assert [m["seeds"] for m in merged["more_seeds"]] == [[1]]


def test_a_different_schedule_or_a_repeated_seed_is_refused(committed):
    other = _seed_only(committed, 1)
    other["points"] = [1, 2]
    with pytest.raises(ValueError, match="points differs"):
        merge(_seed_only(committed, 0), other, "x.json")
    with pytest.raises(ValueError, match="already in the main run"):
        merge(_seed_only(committed, 0), _seed_only(committed, 0), "x.json")

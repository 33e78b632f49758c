"""``experiments.lime_depth.run``: the matched vanilla is planned exactly where the reproduction's rule
leaves a parameter gap over 1%, and ``--append`` continues a JSON without re-running what it holds."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.lime_depth.run import MATCHED, depth_shape, parameter_gap, plan

ROOT = Path(__file__).resolve().parents[2]


def test_matched_vanilla_is_planned_where_the_parameter_gap_exceeds_one_percent():
    assert parameter_gap(8) < 0.01 < parameter_gap(16)  # the gap the committed results report
    assert plan([8, 16], [0]) == [
        ("lime-kv", 8, 0),
        ("vanilla", 8, 0),
        ("lime-kv", 16, 0),
        ("vanilla", 16, 0),
        (MATCHED, 16, 0),
    ]


def _run(out: Path, *args: str) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "experiments.lime_depth.run",
        "--smoke-steps",
        "2",
        "--out",
        str(out),
    ]
    cmd += args
    subprocess.run(
        cmd, cwd=ROOT, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    return json.loads((out / "lime_depth.json").read_text())


@pytest.mark.slow
def test_append_keeps_the_runs_and_runs_only_the_new_ones(tmp_path):
    first = _run(tmp_path, "--depths", "2", "--seeds", "0")
    second = _run(tmp_path, "--depths", "2", "3", "--seeds", "0", "--append")
    keys = [(r["arch"], r["depth"], r["seed"]) for r in second["runs"]]
    assert keys == [("lime-kv", 2, 0), ("vanilla", 2, 0), ("lime-kv", 3, 0), ("vanilla", 3, 0)]
    assert second["runs"][:2] == first["runs"]  # kept as they were, not re-run
    assert second["meta"]["command"] == first["meta"]["command"]
    (log,) = second["meta"]["continued"]
    assert "--append" in log["command"] and log["planned"] == [["lime-kv", 3, 0], ["vanilla", 3, 0]]
    assert [tuple(p) for p in second["meta"]["planned"]] == keys


@pytest.mark.slow
def test_a_matched_vanilla_run_is_a_vanilla_model_at_the_matched_width_without_routes():
    code = (
        "import json; from experiments.lime_depth import run as lime_depth; "
        "from lime_lens.train.tiny_recipe import smoke_train; "
        "run = lime_depth.one_run(lime_depth.MATCHED, 2, 0, [], smoke_train(2)); "
        "print(json.dumps({k: run.get(k) for k in ('arch', 'model_shape', 'routing_per_layer')}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
    )
    run = json.loads(done.stdout.strip().splitlines()[-1])
    assert run["arch"] == MATCHED and run["routing_per_layer"] is None
    assert run["model_shape"]["d_mlp"] == depth_shape(MATCHED, 2)["d_mlp"]

"""The paired depth analysis: t intervals with n - 1 degrees of freedom, per-seed pairing on the
1%-matched baseline, the seed minimum, and a report that states the verdict from the JSON."""

import math
import statistics

import pytest
from scipy import stats

from experiments.lime_depth.pairs import (
    MIN_SEEDS,
    interval_verdict,
    paired_differences,
    t_interval,
    trend_contrasts,
)
from experiments.lime_depth.render_paired import baseline_at, render

PARAMS = {("lime-kv", 4): 1000, ("vanilla", 4): 1002, ("lime-kv", 32): 2000,
          ("vanilla", 32): 2060, ("vanilla-matched-kv", 32): 1998}  # fmt: skip


def _run(arch: str, depth: int, seed: int, loss: float) -> dict:
    return {"arch": arch, "depth": depth, "seed": seed, "val_loss": loss,
            "n_params": PARAMS[(arch, depth)]}  # fmt: skip


def test_t_interval_matches_scipy_with_n_minus_1_degrees_of_freedom():
    values = [0.08, 0.07, 0.05, 0.09, 0.06]
    iv = t_interval(values)
    low, high = stats.t.interval(0.95, 4, loc=statistics.fmean(values), scale=stats.sem(values))
    assert (iv.low, iv.high) == pytest.approx((low, high))
    assert iv.t == pytest.approx(2.776, abs=1e-3) and iv.n == 5


def test_one_seed_has_no_interval():
    iv = t_interval([0.1])
    assert math.isnan(iv.low) and math.isnan(iv.high)


def test_verdicts_follow_the_interval_and_need_the_seed_minimum():
    assert (
        interval_verdict(t_interval([0.08, 0.07, 0.05, 0.09, 0.06]), "grows", "shrinks")
        == "shrinks"
    )
    assert (
        interval_verdict(t_interval([-0.08, -0.07, -0.05, -0.09, -0.06]), "grows", "shrinks")
        == "grows"
    )
    assert interval_verdict(t_interval([0.1, -0.1, 0.05, -0.04, 0.0]), "g", "s") == "not resolved"
    few = interval_verdict(t_interval([0.08, 0.07]), "grows", "shrinks")
    assert few.startswith("no verdict") and f"2 of the {MIN_SEEDS}" in few


def test_differences_pair_models_of_the_same_seed_and_depth():
    runs = [_run("lime-kv", 4, 0, 5.0), _run("vanilla", 4, 0, 5.1), _run("lime-kv", 4, 1, 5.3),
            _run("vanilla", 4, 1, 5.2), _run("lime-kv", 32, 0, 5.5),
            _run("vanilla-matched-kv", 32, 0, 5.4)]  # fmt: skip
    shallow = paired_differences(runs, 4, "vanilla")
    deep = paired_differences(runs, 32, "vanilla-matched-kv")
    assert shallow == pytest.approx({0: -0.1, 1: 0.1})
    assert deep == pytest.approx({0: 0.1})  # seed 1 has no depth-32 pair
    assert trend_contrasts(shallow, deep) == pytest.approx({0: 0.2})


def test_the_baseline_is_the_vanilla_within_one_percent():
    runs = [_run(a, d, 0, 5.0) for a, d in PARAMS]
    assert baseline_at(runs, 4)[0] == "vanilla"
    assert baseline_at(runs, 32)[0] == "vanilla-matched-kv"  # `vanilla` is +3.0% there
    with pytest.raises(ValueError, match="depth 32: no vanilla within 1%"):
        baseline_at([r for r in runs if r["arch"] != "vanilla-matched-kv"], 32)


def _payload(n_seeds: int, worse_deep: float) -> dict:
    runs = []
    for s in range(n_seeds):
        noise = 0.01 * (s % 3)
        runs += [_run("lime-kv", 4, s, 5.0 + noise), _run("vanilla", 4, s, 5.0),
                 _run("lime-kv", 32, s, 5.0 + worse_deep + noise * 2),
                 _run("vanilla-matched-kv", 32, s, 5.0)]  # fmt: skip
    return {"meta": {"invocations": []}, "runs": runs}


def test_the_report_states_the_verdict_its_runs_give():
    first = {"runs": []}
    shrinks = render(_payload(5, 0.08), first)
    assert "**Primary verdict (trend, seeds [0, 1, 2, 3, 4]): LIMe's advantage shrinks" in shrinks
    grows = render(_payload(5, -0.08), first)
    assert "LIMe's advantage grows with depth" in grows
    short = render(_payload(3, 0.08), first)
    assert "no verdict (3 of the 5 pre-registered seeds complete)" in short


def test_a_smoke_run_may_not_write_the_results_file():
    from experiments.lime_depth.run_paired import OUT, main

    with pytest.raises(ValueError, match="--out: a smoke run must not write the results file"):
        main(["--smoke-steps", "1", "--out", str(OUT)])


@pytest.mark.slow
def test_a_rerun_skips_finished_runs_and_logs_its_invocation(tmp_path):
    import json

    from experiments.lime_depth.run_paired import main

    out = tmp_path / "paired.json"
    args = ["--smoke-steps", "1", "--depths", "2", "--seeds", "0", "--out", str(out)]
    main(args)
    first = json.loads(out.read_text())
    assert sorted((r["arch"], r["depth"]) for r in first["runs"]) == [
        ("lime-kv", 2),
        ("vanilla", 2),
    ]
    main(args)
    again = json.loads(out.read_text())
    assert again["runs"] == first["runs"]
    assert len(again["meta"]["invocations"]) == 2 and "ran" not in again["meta"]["invocations"][1]


def test_a_run_claimed_by_a_live_process_is_not_trained_twice(tmp_path):
    import json
    import os
    import subprocess

    from experiments.lime_depth.run_paired import claim

    out = tmp_path / "paired.json"
    out.write_text(json.dumps({"meta": {}, "runs": [{"arch": "lime-kv", "depth": 4, "seed": 0}]}))
    assert not claim(out, "lime-kv", 4, 0)  # done
    assert claim(out, "vanilla", 4, 0) and claim(out, "vanilla", 4, 0)  # ours: still ours
    other = subprocess.Popen(["sleep", "30"])
    try:
        payload = json.loads(out.read_text())
        payload["meta"]["claims"]["vanilla/4/0"] = other.pid
        out.write_text(json.dumps(payload))
        assert not claim(out, "vanilla", 4, 0)  # a live process holds it
    finally:
        other.kill()
        other.wait()
    assert claim(out, "vanilla", 4, 0)  # its holder is gone
    assert json.loads(out.read_text())["meta"]["claims"]["vanilla/4/0"] == os.getpid()

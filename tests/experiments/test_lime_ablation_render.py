"""``experiments.lime_ablation.render``: every number and verdict of the report comes from the JSON."""

import copy
import json

import pytest

from experiments.lime_ablation.render import HERE as RESULTS
from experiments.lime_ablation.render import PREREGISTRATION, render


def _run(arch, seed, loss, n_params=1000, source=None):
    run = {
        "task": "lm",
        "arch": arch,
        "seed": seed,
        "val_loss": loss,
        "n_params": n_params,
        "val_history": [{"step": 250, "loss": loss + 0.5}, {"step": 500, "loss": loss}],
        "tokens_seen": 512000,
        "wall_time_s": 60.0,
    }
    return {**run, "source": source} if source else run


@pytest.fixture
def payload():
    runs = [
        _run("vanilla", 0, 5.70, 1010, source="reproduction"),
        _run("vanilla", 1, 5.72, 1010, source="reproduction"),
        _run("lime-kv", 0, 5.60, 1004, source="reproduction"),
        _run("lime-kv", 1, 5.62, 1004, source="reproduction"),
        _run("lime-kv-average", 0, 5.71, 1000),
        _run("lime-kv-average", 1, 5.73, 1000),
        _run("lime-kv-first2", 0, 5.63, 1003),
    ]
    meta = {
        "command": "OMP_NUM_THREADS=1 nice python -m experiments.lime_ablation.run",
        "torch": "test",
        "machine": "x86_64",
        "lm_shape": {"n_layers": 4},
        "lm_train": {"max_steps": 500},
        "lm_context_size": 64,
        "planned": [["lime-kv-average", 0], ["lime-kv-first2", 0], ["lime-kv-first2", 1]],
    }
    return {"meta": meta, "runs": runs}


def test_the_report_opens_with_the_pre_registration_committed_before_the_runs(payload):
    text = render(payload, "x.json")
    assert text.startswith(PREREGISTRATION)
    committed = (RESULTS / "lime_ablation.md").read_text()
    assert committed.startswith(PREREGISTRATION.split("\n\nDecision rule")[0])


def test_means_differences_and_verdicts_come_from_the_runs(payload):
    text = render(payload, "x.json")
    assert "| lime-kv-average | uniform average | 1,000 | -0.99% | 5.7200 +- 0.0141 |" in text
    # average - full = +0.11 nats, standard error 0.0141: resolved; average - vanilla: not
    assert (
        "- lime-kv-average - lime-kv: +0.1100 nats (standard error 0.0141): higher than lime-kv"
        in text
    )
    assert (
        "- lime-kv-average - vanilla: +0.0100 nats (standard error 0.0141): not resolved from vanilla"
        in text
    )
    assert (
        "lime-kv-first2 - lime-kv: +0.0200 nats (standard error nan): not testable (one seed)"
        in text
    )
    assert "Planned but not run: lime-kv-first2 seed 1." in text
    assert "lime-kv seed 0, lime-kv seed 1, vanilla seed 0, vanilla seed 1" in text
    assert "Trained here: 3 runs (3.0 min of training)" in text
    assert "paper, 150M: +0.0330 nats" in text  # Table 7: average 16.4611 vs full 15.9267


def test_changing_a_run_changes_the_numbers_and_the_verdict(payload):
    changed = copy.deepcopy(payload)
    for run in changed["runs"]:
        if run["arch"] == "lime-kv-average":
            run["val_loss"] -= 0.1
    text = render(changed, "x.json")
    assert "- lime-kv-average - lime-kv: +0.0100 nats (standard error 0.0141): not resolved" in text
    assert (
        "- lime-kv-average - vanilla: -0.0900 nats (standard error 0.0141): lower than vanilla"
        in text
    )


@pytest.mark.skipif(not (RESULTS / "lime_ablation.json").is_file(), reason="no committed runs yet")
def test_the_committed_report_is_the_rendering_of_the_committed_json():
    payload = json.loads((RESULTS / "lime_ablation.json").read_text())
    committed = (RESULTS / "lime_ablation.md").read_text()
    assert render(payload, "experiments/lime_ablation/lime_ablation.json") == committed

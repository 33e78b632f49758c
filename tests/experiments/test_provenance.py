"""Every results JSON carries a provenance block (command, commit, seeds, start and end time,
machine), recorded by the runner or, for older runs, backfilled with "unknown" where the run
did not record a field."""

from experiments import backfill_provenance
from experiments.common import UNKNOWN, finish, provenance

FIELDS = {"command", "git_commit", "seeds", "start_time", "end_time", "machine"}


def test_a_runner_block_names_command_commit_seeds_times_and_machine():
    block = finish(provenance([0, 1], ["experiments/lime_depth/run.py", "--seeds", "0", "1"]))
    assert FIELDS <= block.keys()
    assert block["command"] == "python -m experiments.lime_depth.run --seeds 0 1"
    assert block["seeds"] == [0, 1] and block["end_time"] >= block["start_time"]
    assert {"cpu", "cpu_count", "torch", "python", "memory_gib"} <= block["machine"].keys()


def test_every_committed_run_record_has_a_block():
    assert backfill_provenance.main(["--check"]) == 0


def test_a_backfilled_block_marks_what_the_run_did_not_record_as_unknown(tmp_path):
    record = {"config": {"baselines": {"seed": 3}}, "rows": []}
    block = backfill_provenance.known(record, tmp_path / "comparison.json")
    assert FIELDS <= block.keys()
    assert block["seeds"] == [3]
    assert block["command"] == block["git_commit"] == block["machine"] == UNKNOWN

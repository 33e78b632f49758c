"""``experiments.lime_reproduction.render``: every number of the report comes from the JSON."""

import copy
import json
import math

import pytest

from experiments.lime_reproduction.render import RESULT, main, render
from experiments.lime_reproduction.stats import (
    arith_summary,
    int_keyed,
    lm_summary,
)


@pytest.fixture(scope="module")
def payload():
    return json.loads(RESULT.read_text())


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_summaries_recomputed_from_the_raw_runs_equal_the_ones_the_run_stored(payload):
    runs = int_keyed(payload["runs"])
    lm = json.loads(json.dumps(lm_summary([r for r in runs if r["task"] == "lm"])))
    arith = json.loads(json.dumps(arith_summary([r for r in runs if r["task"] == "arithmetic"])))
    assert _same(lm, payload["lm"]) and _same(arith, payload["arithmetic"])


def test_the_committed_report_is_the_rendering_of_the_committed_json(payload):
    committed = RESULT.with_name("lime_reproduction.md").read_text()
    assert (
        render(copy.deepcopy(payload), "experiments/lime_reproduction/lime_reproduction.json")
        == committed
    )


def test_changing_a_run_in_the_json_changes_the_table_and_the_verdict(payload):
    before = render(copy.deepcopy(payload), "x.json")
    changed = copy.deepcopy(payload)
    for run in changed["runs"]:
        if run["task"] == "lm" and run["arch"] == "lime-kv":
            run["val_loss"] -= 1.0  # LIMe-kv one nat better on every seed
    after = render(changed, "x.json")
    row = next(line for line in after.splitlines() if line.startswith("| lime-kv | 728,704"))
    assert "4.6674 +- 0.0280" in row and "4.6677, 4.6392, 4.6952" in row
    assert (
        "lime-kv - vanilla: -1.0083 nats/token (standard error 0.0213; perplexity -63.52%): lower than vanilla"
        in after
    )
    assert "not resolved from vanilla" in before.split("- lime-kv - vanilla")[1].split("\n")[0]


def test_the_cli_writes_the_report_next_to_the_json_by_default(payload, tmp_path):
    (tmp_path / "lime_reproduction.json").write_text(json.dumps(payload))
    main([str(tmp_path / "lime_reproduction.json")])
    text = (tmp_path / "lime_reproduction.md").read_text()
    assert (
        text.startswith("# LIMe at small scale on CPU: language modelling (within seed noise)")
        and "5.6674 +- 0.0280" in text
    )

"""benchmarks/bench_hf_lime.py runs end to end at --smoke size and writes consistent JSON."""

import json

import pytest
from torch.testing import assert_close

from benchmarks.bench_hf_lime import main

VARIANTS = {"hf_lime", "hf_llama", "bridge_lime", "bridge_llama"}


@pytest.mark.slow
def test_smoke_run_writes_every_variant_and_ratios_of_its_own_rows(tmp_path):
    out = tmp_path / "hf_lime.json"
    main(["--smoke", "--device", "cpu", "--out", str(out)])
    record = json.loads(out.read_text())
    rows, ratios = record["rows"], record["ratios"]
    assert set(rows) == VARIANTS
    for pair in ("hf", "bridge"):
        lime, llama = rows[f"{pair}_lime"], rows[f"{pair}_llama"]
        assert_close(ratios[pair]["forward"], lime["forward_ms"] / llama["forward_ms"])
        assert_close(ratios[pair]["train_step"], lime["train_step_ms"] / llama["train_step_ms"])
        assert ratios[pair]["saved_activations"] > 1.0  # LIMe also saves its route inputs
        for task, (low, high) in record["ratio_ranges_per_rep"][pair].items():
            # a ratio of medians lies within the range of the per-rep ratios
            assert low - 1e-12 <= ratios[pair][task] <= high + 1e-12, task
    assert rows["bridge_lime"]["tokens_match_hf"] is True  # the bridge generates HF LIMe's tokens
    assert rows["bridge_lime"]["first_mismatch"] is None
    llama = rows["bridge_llama"]
    assert llama["tokens_match_hf"] == (llama["first_mismatch"] is None)
    assert record["targets"] == {
        "forward": 1.05,
        "train_step": 1.10,
        "generation_tokens_per_s": 0.95,
    }

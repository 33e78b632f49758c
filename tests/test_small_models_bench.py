"""benchmarks/bench_small_models.py --smoke and benchmarks/gpu_arithmetic.py's prediction, on CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.gpu_arithmetic import paper_steps, predict_gpu_step_s
from lime_lens.arithmetic.step_task import StepTask

ROOT = Path(__file__).resolve().parents[1]


def test_the_paper_budget_is_200_epochs_of_150000_expressions():
    assert paper_steps(StepTask()) == 200 * 1172  # ceil(150,000 / 128) steps per epoch


def test_cuda_graphs_shorten_only_the_launch_term():
    eager, graphs = predict_gpu_step_s(100, 1e12, False), predict_gpu_step_s(100, 1e12, True)
    assert eager - graphs == pytest.approx(100 * (6e-6 - 1.5e-6))


@pytest.mark.slow
def test_smoke_benchmark_writes_consistent_records(tmp_path):
    out = tmp_path / "small.json"
    subprocess.run(
        [
            sys.executable,
            "benchmarks/bench_small_models.py",
            "--smoke",
            "--threads",
            "1",
            "--ns",
            "2",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    record = json.loads(out.read_text())
    cases = record["cases"]
    assert set(cases) == {"today", "packed_n1", "stacked_n4", "packed_n2"}
    for entry in cases.values():
        assert entry["real_tokens_per_s_in_all"] == pytest.approx(
            entry["models"] * entry["real_tokens_per_s_per_model"]
        )
    assert cases["today"]["speedup_in_all_vs_today"] == 1.0
    stats = record["packing"]["by_row_len"][str(record["settings"]["packed_row_len"])]
    assert stats["padding_share_packed"] < stats["padding_share_padded"]

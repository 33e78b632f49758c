"""The Triton kernels compiled ahead of time for A100 (sm_80) and H100 (sm_90) on CPU
(benchmarks/triton_aot.py): no compile error and no spill at the launcher's configurations,
the committed table rendered from its JSON, and the occupancy arithmetic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from saelens_hierarchical.loss import triton_configs as tc

pytest.importorskip("triton")
triton_aot = pytest.importorskip("benchmarks.triton_aot")
from benchmarks.triton_aot_render import failures, render_markdown  # noqa: E402

RESULT = Path(__file__).resolve().parents[2] / "results" / "benchmarks" / "triton_aot.json"


@pytest.mark.slow
def test_default_configs_compile_for_sm80_and_sm90_in_every_dtype_without_spills(tmp_path):
    # A child process: triton.jit fixes compiled vs interpreted mode once per process, and
    # this one runs the interpreter tests.
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = tmp_path / "aot.json"
    cmd = [sys.executable, "-m", "benchmarks.triton_aot", "--defaults", "--out", str(out)]
    done = subprocess.run(cmd, cwd=RESULT.parents[2], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert {r["config"] for r in rows} == {tc.ALIGNED.name, tc.UNALIGNED.name}
    assert len(rows) == 2 * len(triton_aot.SPECS) * 2 * 10  # 3 dtypes x 3 kernels + segment sum
    assert failures(rows) == []
    assert all(r["stack"] == r["local"] == 0 for r in rows)


def test_committed_table_is_the_rendering_of_its_json():
    record = json.loads(RESULT.read_text())
    assert RESULT.with_suffix(".md").read_text() == render_markdown(record)


def test_committed_run_has_every_candidate_clean_and_covers_both_targets_and_dtypes():
    record = json.loads(RESULT.read_text())
    tuned = [r for r in record["rows"] if r["set"] == "tuned"]
    assert failures(record["rows"]) == []
    assert {r["config"] for r in tuned} == {c.name for c in tc.CANDIDATES}
    assert {(r["cc"], r["dtype"], r["spec"]) for r in tuned} == {
        (cc, dt, spec) for cc in (80, 90) for dt in triton_aot.DTYPES for spec in triton_aot.SPECS
    }
    assert {r["kernel"] for r in tuned} == {"forward", "backward", "backward_sorted", "segment_sum"}


def test_failures_name_compile_errors_and_tuned_spills_but_not_pre_tuning_spills():
    row = dict(config="c", kernel="forward", spec="any", cc=90, dtype="bf16", stack=0, local=0)
    assert failures([{**row, "set": "tuned"}]) == []
    assert failures([{**row, "set": "tuned", "stack": 8}]) == [
        "c forward any sm_90 bf16: spills 8 bytes"
    ]
    assert failures([{**row, "set": "before", "stack": 8}]) == []
    assert "boom" in failures([{**row, "set": "before", "error": "boom"}])[0]


@pytest.mark.parametrize(
    ("regs", "warps", "shared", "cc", "blocks", "limit"),
    [
        (255, 4, 1024, 90, 2, "registers"),  # 8 warps: the pre-tuning backward
        (64, 4, 1024, 90, 8, "registers"),  # 32 warps
        (16, 4, 0, 80, 16, "warps"),  # 64 warps: the SM cap
        (32, 1, 0, 90, 32, "blocks"),
        (32, 4, 40 * 1024, 80, 4, "shared"),  # 164 KiB / 40 KiB
    ],
)
def test_occupancy_is_the_least_of_registers_warps_blocks_and_shared(
    regs, warps, shared, cc, blocks, limit
):
    got = triton_aot.occupancy(regs, warps, shared, cc)
    assert (got["blocks_per_sm"], got["limited_by"]) == (blocks, limit)
    assert got["occupancy"] == blocks * warps / 64

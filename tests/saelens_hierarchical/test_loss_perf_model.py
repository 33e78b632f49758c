"""benchmarks/perf_model.py: the roofline model's arithmetic and its committed rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import perf_model as pm

RESULT = Path(__file__).resolve().parents[2] / "results" / "benchmarks" / "perf_model.json"


def test_dense_decode_is_six_BFD_flops_and_the_sparse_paths_skip_it():
    F, D, B = pm.SHAPE["F"], pm.SHAPE["D"], pm.SHAPE["B"]
    dense = sum(op.flops for op in pm.decode("topk_dense", F, D, B, 64))
    assert dense == pytest.approx(6 * B * F * D, rel=1e-3)  # forward + two backward products
    for path in ("topk_sparse", "htopk_triton"):
        assert sum(op.flops for op in pm.decode(path, F, D, B, 64)) < dense / 100


def test_gather_and_atomic_bytes_grow_linearly_in_K_and_matmuls_do_not():
    F, D, B = 1024, 256, 128
    for path in ("topk_sparse", "htopk_triton", "htopk_chunked"):
        b = [sum(op.bytes for op in pm.decode(path, F, D, B, k)) for k in (8, 16, 32)]
        assert b[2] - b[1] == pytest.approx(2 * (b[1] - b[0]))
    dense = [sum(op.bytes for op in pm.decode("topk_dense", F, D, B, k)) for k in (8, 32)]
    assert dense[0] == dense[1]


def test_an_op_takes_the_slower_of_compute_and_memory():
    hw = {"bf16_flops": 1e12, "bandwidth_Bps": 1e9}
    assert pm.op_seconds(pm.Op("", 2e12, 1e9), hw) == 2.0
    assert pm.op_seconds(pm.Op("", 1e12, 3e9), hw) == 3.0


def test_committed_prediction_is_the_model_and_its_table_its_rendering():
    record = json.loads(RESULT.read_text())
    fresh = pm.build_record([])
    assert [r["ms"] for r in record["rows"]] == pytest.approx([r["ms"] for r in fresh["rows"]])
    assert RESULT.with_suffix(".md").read_text() == pm.render_markdown(record)
    k64 = {r["path"]: r for r in record["rows"] if r["K"] == 64}
    assert k64["htopk_triton"]["vs_topk_dense"] == pytest.approx(
        k64["htopk_triton"]["ms"] / k64["topk_dense"]["ms"]
    )

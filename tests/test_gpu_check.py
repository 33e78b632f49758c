"""benchmarks/gpu_check.py on CPU: arguments, step records and the rendered report (no CUDA).

The GPU runs it rarely, so these keep it from rotting in between: a step that fails, times
out or whose script is missing is recorded, not fatal, and the markdown renders from the JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import gpu_check
import pytest

PY = sys.executable


def fake_htopk(k64_triton_ratio: float) -> dict:
    rows = [
        {"K": 64, "dtype": "bfloat16", "variant": "topk", "status": "ok", "step_ms": 10.0,
         "peak_mib": 1000.0, "time_ratio": 1.0, "peak_ratio": 1.0},
        {"K": 64, "dtype": "bfloat16", "variant": "triton", "status": "ok",
         "step_ms": 10.0 * k64_triton_ratio, "peak_mib": 1010.0,
         "time_ratio": k64_triton_ratio, "peak_ratio": 1.01},
        {"K": 128, "dtype": "float32", "variant": "reference", "status": "out of memory"},
    ]  # fmt: skip
    return {"benchmark": "gpu_htopk_step", "rows": rows}


def test_help_documents_the_one_command_and_the_wheelhouse(capsys):
    with pytest.raises(SystemExit) as exit_info:
        gpu_check.parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "python benchmarks/gpu_check.py --out results/gpu" in text
    assert "pip install -q --no-index --no-deps" in text
    assert "scripts/build_gpu_wheels.sh" in text
    args = gpu_check.parse_args(["--out", "x", "--timeout-htopk", "5"])
    assert (args.out, args.timeout_htopk, args.arithmetic_budget_s) == (Path("x"), 5, 120)


def test_steps_record_ok_failed_timeout_and_missing_script_without_stopping(tmp_path):
    result = tmp_path / "r.json"
    steps = [
        gpu_check.Step("ok", [PY, "-c", f"open({str(result)!r}, 'w').write('[1]')"], 30,
                       str(result)),
        gpu_check.Step("failed", [PY, "-c", "raise SystemExit(3)"], 30),
        gpu_check.Step("timeout", [PY, "-c", "import time; print('x', flush=True); time.sleep(9)"], 1),
        gpu_check.Step("missing", [PY, "benchmarks/no_such_script.py"], 30),
    ]  # fmt: skip
    for step in steps:
        gpu_check.run_step(step)
    assert [s.status for s in steps] == ["ok", "failed", "timeout", "not available"]
    assert steps[0].data == [1] and steps[1].returncode == 3
    assert "no_such_script.py does not exist" in steps[3].output_tail


def test_plan_runs_the_six_steps_with_the_arithmetic_budget_inside_its_timeout(tmp_path):
    steps = gpu_check.plan(tmp_path, dict.fromkeys(["tests", "htopk", "configs", "lime",
                                                    "attention", "arithmetic"], 10), 240)  # fmt: skip
    assert [s.name for s in steps] == [
        "cuda tests", "htopk step", "triton configs", "lime step", "attention", "arithmetic",
    ]  # fmt: skip
    assert steps[0].command[-3:] == ["-m", "cuda or triton", "tests"]
    assert "--time-budget-s" in steps[5].command and steps[5].timeout_s == 250


@pytest.mark.parametrize(("ratio", "verdict"), [(1.05, "met"), (1.25, "missed")])
def test_markdown_renders_ratios_target_verdict_and_official_figures(tmp_path, ratio, verdict):
    step = gpu_check.Step("htopk step", ["python", "benchmarks/gpu_htopk_step.py"], 10)
    step.status, step.data, step.output_tail = "ok", fake_htopk(ratio), "done"
    record = {"command": "python benchmarks/gpu_check.py --out x", "device": "FakeGPU",
              "total_s": 12.0, "steps": [gpu_check.asdict(step)]}  # fmt: skip
    markdown = gpu_check.render_markdown(json.loads(json.dumps(record)))
    assert f"| bfloat16 | 64 | triton | ok | {10 * ratio:.2f} | {ratio:.3f} |" in markdown
    assert "| float32 | 128 | reference | out of memory | - | - | - | - |" in markdown
    assert f"measured {ratio:.3f}x / 1.010x, {verdict}." in markdown
    assert "| 64 | 6.339 | 7.995 | 1.26 |" in markdown  # the official kernel, published
    import perf_model

    predicted = (
        perf_model.predict("htopk_triton", 64)["ms"] / perf_model.predict("topk_dense", 64)["ms"]
    )
    assert f"| 1.010 | {predicted:.3f} |" in markdown  # predicted next to measured
    assert f"Roofline prediction (benchmarks/perf_model.py): {predicted:.3f}x TopK" in markdown


def test_main_writes_json_and_markdown_for_the_steps_it_ran(tmp_path, monkeypatch):
    def fake_plan(out, timeouts, budget):
        return [gpu_check.Step("echo", [PY, "-c", "print('hello gpu')"], 30)]

    monkeypatch.setattr(gpu_check, "plan", fake_plan)
    record = gpu_check.main(["--out", str(tmp_path)])
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    assert saved["steps"][0]["status"] == record["steps"][0]["status"] == "ok"
    assert "hello gpu" in (tmp_path / "gpu_check.md").read_text()


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_htopk_step_builds_and_steps_every_variant_on_cpu(monkeypatch, dtype):
    # The GPU script's build and training step at tiny sizes: its configs (dtype, loss_impl,
    # deterministic mode) are the ones the plugin accepts. Triton runs under its interpreter.
    import gpu_htopk_step as step
    import torch

    monkeypatch.setattr(step, "DEVICE", "cpu")
    monkeypatch.setattr(step, "D_IN", 24)
    monkeypatch.setattr(step, "D_SAE", 64)
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    sae_in = torch.randn(8, 24, dtype=step.DTYPES[dtype])
    for variant in step.VARIANTS:
        sae, optimizer = step.build(variant, 5, dtype)
        before = sae.W_dec.detach().clone()
        step.train_step(sae, optimizer, sae_in)
        assert sae.W_dec.dtype == step.DTYPES[dtype]
        assert not torch.equal(sae.W_dec, before), variant  # Adam moved the decoder


def test_triton_configs_times_every_candidate_and_names_the_fastest_on_cpu(monkeypatch):
    # The GPU script's timing loop at tiny sizes under Triton's interpreter, with a fake timer
    # that makes the second candidate fastest: the pick is the timer's, the table's is reported.
    import gpu_triton_configs as gtc

    from saelens_hierarchical.loss.triton_configs import CANDIDATES

    monkeypatch.setenv("TRITON_INTERPRET", "1")
    fake = iter([5.0, 1.0, 3.0, 4.0])
    calls = []

    def timer(fn):
        fn()
        calls.append(1)
        return next(fake)

    shape = {"F": 20, "D": 16, "B": 4}
    row = gtc.time_candidates(3, "float32", "cpu", timer, shape)
    assert len(calls) == len(CANDIDATES) == 4
    assert list(row["ms"]) == [c.name for c in CANDIDATES]
    assert row["picked"] == CANDIDATES[1].name and row["table"] == CANDIDATES[0].name
    assert row["table_over_picked"] == 5.0
    markdown = "\n".join(gpu_check.configs_table({"rows": [row]}))
    assert f"| {CANDIDATES[1].name} | {CANDIDATES[0].name} | 5.000 |" in markdown


def test_htopk_ratios_are_over_topk_at_the_same_K_and_dtype():
    import gpu_htopk_step as step

    rows = [
        {"K": 64, "dtype": "bfloat16", "variant": "topk", "step_ms": 8.0, "peak_mib": 100.0,
         "step_mib": 10.0},
        {"K": 64, "dtype": "bfloat16", "variant": "triton", "step_ms": 10.0, "peak_mib": 105.0,
         "step_mib": 12.0},
        {"K": 64, "dtype": "float32", "variant": "triton", "step_ms": 1.0, "peak_mib": 1.0,
         "step_mib": 1.0},
    ]  # fmt: skip
    step.add_ratios(rows)
    assert (rows[1]["time_ratio"], rows[1]["peak_ratio"], rows[1]["step_mem_ratio"]) == (
        1.25, 1.05, 1.2,
    )  # fmt: skip
    assert "time_ratio" not in rows[2]  # no fp32 TopK row to divide by


@pytest.mark.parametrize(
    "precision",
    ["bf16", "autocast"],
)
def test_lime_step_times_every_model_in_bf16_on_cpu(monkeypatch, precision):
    import bench_lime
    import gpu_lime_step

    for name, value in bench_lime.QUICK.items():  # bench_lime's own smoke sizes
        monkeypatch.setattr(bench_lime, name, value)
    monkeypatch.setattr(gpu_lime_step, "DEVICE", "cpu")
    variants = list(bench_lime.VARIANTS)
    results = gpu_lime_step.time_models(variants, warmup=0, steps=1, precision=precision)
    assert set(results) == set(bench_lime.VARIANTS)
    assert all(r["forward_ms"] > 0 and r["train_ms"] > 0 for r in results.values())


# The GPU machine receives the tracked files plus the wheelhouse within 64 MiB; with 10 MiB to
# spare and the wheels' 28 MiB (scripts/build_gpu_wheels.sh), the tracked files get 26 MiB.
TRACKED_SHARE_MIB = 64 - 10 - 28


def test_tracked_files_stay_within_their_share_of_the_gpu_carry():
    root = Path(__file__).resolve().parents[1]
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    files = [root / n for n in listed.stdout.decode().split("\0") if n and (root / n).is_file()]
    sizes = {f.relative_to(root).as_posix(): f.stat().st_size for f in files}
    biggest = ", ".join(
        f"{n} {sizes[n] / 2**20:.1f} MiB" for n in sorted(sizes, key=sizes.get)[-3:]
    )
    total_mib = sum(sizes.values()) / 2**20
    assert total_mib <= TRACKED_SHARE_MIB, (
        f"tracked files {total_mib:.1f} MiB > their {TRACKED_SHARE_MIB} MiB share of the GPU "
        f"carry (largest: {biggest})"
    )

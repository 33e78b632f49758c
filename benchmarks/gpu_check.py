"""One command for a short loan of one CUDA GPU (H100/H200): tests, then every GPU benchmark.

    python benchmarks/gpu_check.py --out results/gpu

Steps, each a subprocess with its own timeout (worst case 8.7 minutes, the arithmetic run's
120 s budget included; ``--timeout-*`` and ``--arithmetic-budget-s`` change them); each is
recorded with its status (ok / failed / timeout / not available), wall time, command and
output tail, so one failing step keeps the others:

1. ``pytest -m "cuda or triton"``: the CUDA-marked tests and the Triton kernel's parity tests,
   which run natively on CUDA (tests/saelens_hierarchical/test_loss_triton.py); test modules
   whose imports the GPU image lacks are reported as collection errors, the rest still run;
2. ``benchmarks/gpu_htopk_step.py``: HierarchicalTopK training step (forward, backward, Adam)
   time and peak memory, triton / chunked / reference vs SAELens TopKTrainingSAE,
   F=65,536, D=2,304, K=32/64/128, batch 4,096, bf16 and fp32 -> DIR/htopk_step.json; the
   report puts the roofline prediction (benchmarks/perf_model.py) next to each measured ratio;
3. ``benchmarks/gpu_triton_configs.py``: every Triton launch candidate timed, the fastest (what
   autotuning picks) next to the table's choice -> DIR/triton_configs.json;
4. ``benchmarks/gpu_lime_step.py``: LIMe forward + train step (bf16 weights) vs vanilla
   HookedTransformer at bench_lime.py's shape -> DIR/lime_step.json;
5. ``benchmarks/bench_attention.py --device cuda --out DIR/attention.json``;
6. ``python -m experiments.lime_arithmetic.run --device cuda --time-budget-s 120 --out DIR/arithmetic``.

The paper-budget arithmetic run (issue 25: LIMe-kv and vanilla, 2 seeds each, as one batched
4-model run) is a separate command for a loan with ten more minutes, named here so that one
place lists every GPU command: ``python benchmarks/gpu_arithmetic.py --minutes 10``.

It prints and writes DIR/gpu_check.json (every step's record and the JSON its benchmark
wrote) and DIR/gpu_check.md (rendered from that record by this script).

The GPU image has torch and triton but not sae-lens / transformer-lens (and some of their
pure-Python dependencies). Build the wheelhouse here, where pip reaches the registry:

    bash scripts/build_gpu_wheels.sh            # -> .whl/ (in .gitignore, under 64 MiB)

and carry it to the GPU machine by name (the device tool's ``carry=[".whl"]``; ignored paths
travel only when named). ``bash scripts/gpu_dry_run.sh`` rehearses what follows on CPU. Then on
the GPU machine, from the repository root, without replacing its torch:

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    PYTHONPATH=/tmp/site:. python3 benchmarks/gpu_check.py --out results/gpu
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TAIL_CHARS = 3000
OFFICIAL = [  # corl-team/flexsae README: ms per training step, F=65,536, D=2,304 (batch unstated)
    {"K": 32, "topk_ms": 5.576, "htopk_ms": 6.696},
    {"K": 64, "topk_ms": 6.339, "htopk_ms": 7.995},
    {"K": 128, "topk_ms": 7.961, "htopk_ms": 10.609},
]
TARGETS = {"time_ratio": 1.10, "peak_ratio": 1.05}  # at K=64, bf16
PREDICTED_TARGET = 0.75  # issue 23: the roofline model's K=64 bf16 step vs SAELens TopK


@dataclass
class Step:
    """One step of the check: what ran, how it ended, and the JSON its benchmark wrote."""

    name: str
    command: list[str]
    timeout_s: int
    result_file: str | None = None
    status: str = "not run"
    wall_s: float = 0.0
    returncode: int | None = None
    output_tail: str = ""
    data: Any = field(default=None)


def plan(out: Path, timeouts: dict[str, int], arithmetic_budget_s: int = 120) -> list[Step]:
    py = sys.executable
    return [
        Step("cuda tests", [py, "-m", "pytest", "-q", "--continue-on-collection-errors",
                            "-m", "cuda or triton", "tests"],
             timeouts["tests"]),
        Step("htopk step", [py, "benchmarks/gpu_htopk_step.py", "--out", str(out / "htopk_step.json")],
             timeouts["htopk"], str(out / "htopk_step.json")),
        Step("triton configs", [py, "benchmarks/gpu_triton_configs.py", "--out",
             str(out / "triton_configs.json")], timeouts["configs"], str(out / "triton_configs.json")),
        Step("lime step", [py, "benchmarks/gpu_lime_step.py", "--out", str(out / "lime_step.json")],
             timeouts["lime"], str(out / "lime_step.json")),
        Step("attention", [py, "benchmarks/bench_attention.py", "--device", "cuda", "--out",
             str(out / "attention.json")], timeouts["attention"], str(out / "attention.json")),
        Step("arithmetic", [py, "-m", "experiments.lime_arithmetic.run", "--device", "cuda",
             "--time-budget-s", str(arithmetic_budget_s), "--out", str(out / "arithmetic")],
             arithmetic_budget_s + timeouts["arithmetic"]),
    ]  # fmt: skip


def run_step(step: Step) -> Step:
    script = next((c for c in step.command[1:] if c.endswith(".py")), None)
    if script is not None and not (ROOT / script).exists():
        step.status = "not available"
        step.output_tail = f"{script} does not exist in this checkout"
        return step
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    start = time.perf_counter()
    try:
        done = subprocess.run(step.command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=step.timeout_s)  # fmt: skip
        step.returncode, output = done.returncode, done.stdout + done.stderr
        step.status = "ok" if done.returncode == 0 else "failed"
    except subprocess.TimeoutExpired as expired:
        output = _text(expired.stdout) + _text(expired.stderr)
        step.status = "timeout"
    step.wall_s = time.perf_counter() - start
    step.output_tail = output[-TAIL_CHARS:]
    if step.result_file and Path(step.result_file).exists():  # partial results count too
        step.data = json.loads(Path(step.result_file).read_text())
    return step


def _text(stream: bytes | str | None) -> str:
    if isinstance(stream, bytes):
        return stream.decode(errors="replace")
    return stream or ""


def _fmt(value: Any, spec: str = ".3f") -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "-"


MODEL_PATH = {"topk": "topk_dense", "triton": "htopk_triton", "triton_det": "htopk_triton",
              "chunked": "htopk_chunked", "reference": "htopk_reference"}  # fmt: skip


def predicted_ratio(variant: str, k: int, dtype: str) -> float | None:
    """The roofline model's step time over SAELens TopK's (bf16 only: the model's dtype)."""
    import perf_model  # a sibling script, as gpu_htopk_step; imported late: it needs torch

    path = MODEL_PATH.get(variant)
    if path is None or dtype != "bfloat16":
        return None
    return perf_model.predict(path, k)["ms"] / perf_model.predict("topk_dense", k)["ms"]


def htopk_table(data: dict[str, Any]) -> list[str]:
    lines = [
        "| dtype | K | variant | status | step ms | time / TopK | peak MiB | peak / TopK "
        "| predicted / TopK |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data.get("rows", []):
        lines.append(
            f"| {r['dtype']} | {r['K']} | {r['variant']} | {r.get('status', '-')} | "
            f"{_fmt(r.get('step_ms'), '.2f')} | {_fmt(r.get('time_ratio'))} | "
            f"{_fmt(r.get('peak_mib'), '.0f')} | {_fmt(r.get('peak_ratio'))} | "
            f"{_fmt(predicted_ratio(r['variant'], r['K'], r['dtype']))} |"
        )
    hit = [
        r
        for r in data.get("rows", [])
        if (r["K"], r["dtype"], r["variant"]) == (64, "bfloat16", "triton")
    ]
    if hit and "time_ratio" in hit[0]:
        r = hit[0]
        verdict = all(r[key] <= bound for key, bound in TARGETS.items())
        lines += ["", f"Target at K=64, bf16 (triton): time <= {TARGETS['time_ratio']}x and peak "
                  f"<= {TARGETS['peak_ratio']}x TopK: measured {r['time_ratio']:.3f}x / "
                  f"{r['peak_ratio']:.3f}x, {'met' if verdict else 'missed'}."]  # fmt: skip
        predicted = predicted_ratio("triton", 64, "bfloat16") or 0.0
        within = abs(r["time_ratio"] / predicted - 1) <= 0.2
        lines += ["", f"Roofline prediction (benchmarks/perf_model.py): {predicted:.3f}x TopK "
                  f"(target <= {PREDICTED_TARGET}x); measured "
                  f"{'within' if within else 'not within'} 20% of it."]  # fmt: skip
    return lines


def configs_table(data: dict[str, Any]) -> list[str]:
    """Per K and dtype: each candidate's ms, the fastest (autotuning's pick), the table's."""
    rows = data.get("rows", [])
    names = list(rows[0]["ms"]) if rows else []
    lines = ["| K | dtype | " + " | ".join(f"{n} ms" for n in names) + " | picked | table "
             "| table / picked |", "|---" * (len(names) + 5) + "|"]  # fmt: skip
    for r in rows:
        cells = " | ".join(_fmt(r["ms"][n]) for n in names)
        lines.append(f"| {r['K']} | {r['dtype']} | {cells} | {r['picked']} | {r['table']} | "
                     f"{_fmt(r['table_over_picked'])} |")  # fmt: skip
    return lines


def official_table() -> list[str]:
    lines = [
        "Published figures of the official kernel (corl-team/flexsae README, Triton TopK vs "
        "Triton HierarchicalTopK, ms per step, F=65,536, D=2,304; their GPU and batch):",
        "",
        "| K | TopK ms | HierarchicalTopK ms | ratio |",
        "|---|---|---|---|",
    ]
    for r in OFFICIAL:
        ratio = r["htopk_ms"] / r["topk_ms"]
        lines.append(f"| {r['K']} | {r['topk_ms']} | {r['htopk_ms']} | {ratio:.2f} |")
    return lines


def render_markdown(record: dict[str, Any]) -> str:
    """The report: a step summary, the HierarchicalTopK table next to the official figures,
    the other steps' JSON and every step's output tail."""
    lines = [f"# GPU check ({record.get('device', 'unknown device')})", "",
             f"Command: `{record['command']}`; total {record['total_s']:.0f} s.", "",
             "| step | status | wall s |", "|---|---|---|"]  # fmt: skip
    steps = record["steps"]
    lines += [f"| {s['name']} | {s['status']} | {s['wall_s']:.1f} |" for s in steps]
    for s in steps:
        lines += ["", f"## {s['name']}", "", f"`{' '.join(s['command'])}`: {s['status']}", ""]
        if s["name"] == "htopk step" and s["data"]:
            lines += htopk_table(s["data"]) + [""] + official_table() + [""]
        elif s["name"] == "triton configs" and s["data"]:
            lines += configs_table(s["data"]) + [""]
        elif s["data"]:
            lines += ["```json", json.dumps(s["data"], indent=1)[:6000], "```", ""]
        lines += ["Output tail:", "", "```", s["output_tail"].strip()[-TAIL_CHARS:], "```"]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the JSON and markdown")
    parser.add_argument("--only", nargs="+", metavar="STEP", help="run only these steps (by name)")
    parser.add_argument("--arithmetic-budget-s", type=int, default=120,
                        help="--time-budget-s passed to the arithmetic run")  # fmt: skip
    # Worst case 90 + 110 + 60 + 45 + 75 + (120 + 20) s = 8.7 min; steps usually end earlier.
    for name, default in (("tests", 90), ("htopk", 110), ("configs", 60), ("lime", 45),
                          ("attention", 75), ("arithmetic", 20)):  # fmt: skip
        help_text = "seconds" + (" beyond its budget" if name == "arithmetic" else "")
        parser.add_argument(f"--timeout-{name}", type=int, default=default, help=help_text)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    timeouts = {k[len("timeout_") :]: v for k, v in vars(args).items() if k.startswith("timeout_")}
    start = time.perf_counter()
    planned = plan(args.out.resolve(), timeouts, args.arithmetic_budget_s)
    steps = [s for s in planned if not args.only or s.name in args.only]
    for step in steps:
        print(f"[gpu_check] {step.name}: {' '.join(step.command)}", flush=True)
        run_step(step)
        print(f"[gpu_check] {step.name}: {step.status} in {step.wall_s:.1f} s", flush=True)
    record = {"command": " ".join(["python", "benchmarks/gpu_check.py", *(argv or sys.argv[1:])]),
              "device": _device_name(), "total_s": time.perf_counter() - start,
              "load_average_at_end": os.getloadavg(), "steps": [asdict(s) for s in steps]}  # fmt: skip
    (args.out / "gpu_check.json").write_text(json.dumps(record, indent=2) + "\n")
    markdown = render_markdown(record)
    (args.out / "gpu_check.md").write_text(markdown)
    print(markdown)
    return record


def _device_name() -> str:
    try:
        import torch

        return torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA device"
    except ImportError:
        return "torch missing"


if __name__ == "__main__":
    main()

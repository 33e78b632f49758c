"""Render ``triton_aot.json`` (benchmarks/triton_aot.py) to its Markdown table.

    python -m benchmarks.triton_aot_render results/benchmarks/triton_aot.json

writes ``triton_aot.md`` next to the JSON. The test ``test_loss_triton_aot.py`` checks the
committed .md equals this rendering of the committed JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from saelens_hierarchical.atomic_write import write_atomic


def spilled(row: dict[str, Any]) -> int:
    """Bytes of stack plus local memory per thread: spills to local memory when above 0."""
    return row.get("stack", 0) + row.get("local", 0)


def failures(rows: list[dict[str, Any]]) -> list[str]:
    """Compile errors anywhere, and spills in any candidate the launcher can pick ("tuned")."""
    out = []
    for r in rows:
        what = f"{r['config']} {r['kernel']} {r['spec']} sm_{r['cc']} {r['dtype']}"
        if "error" in r:
            out.append(f"{what}: {r['error']}")
        elif r["set"] == "tuned" and spilled(r):
            out.append(f"{what}: spills {spilled(r)} bytes")
    return out


def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "- | - | -"
    if "error" in row:
        return "error | - | -"
    return f"{row['reg']} | {spilled(row)} | {row['warps_per_sm']} ({row['occupancy']:.0%})"


def resource_table(rows: list[dict[str, Any]], label: str) -> list[str]:
    """One line per (config, kernel, dtype): registers, spill bytes, resident warps per SM."""
    ccs = sorted({r["cc"] for r in rows})
    head = " | ".join(f"sm_{cc} regs | sm_{cc} spill B | sm_{cc} warps/SM" for cc in ccs)
    lines = [f"| config | args | kernel | dtype | {head} |", "|---" * (4 + 3 * len(ccs)) + "|"]
    keyed = {(r["config"], r["spec"], r["kernel"], r["dtype"], r["cc"]): r
             for r in rows if r["set"] == label}  # fmt: skip
    for key in dict.fromkeys(k[:-1] for k in keyed):  # run order
        cells = " | ".join(_cell(keyed.get((*key, cc))) for cc in ccs)
        lines.append(f"| {' | '.join(key)} | {cells} |")
    return lines


def summary_table(record: dict[str, Any], dtype: str = "bf16") -> list[str]:
    """Before tuning vs the launch table's choice, per kernel, args and target, in ``dtype``:
    the table picks by d_in (the ``defaults`` row at d_in 2,304 for aligned args, at 70 for any)."""
    chosen = {("aligned" if d["d_in"] % 16 == 0 else "any"): d["config"]
              for d in record["defaults"] if d["dtype"] == dtype}  # fmt: skip
    keyed = {(r["set"], r["config"], r["spec"], r["kernel"], r["cc"]): r
             for r in record["rows"] if r["dtype"] == dtype}  # fmt: skip
    before = next(r["config"] for r in record["rows"] if r["set"] == "before")
    lines = [f"| kernel | args | target | before: {before} regs / spill B / warps per SM "
             "| after: config | regs / spill B / warps per SM |", "|---|---|---|---|---|---|"]  # fmt: skip
    for spec, config in sorted(chosen.items()):
        for kernel in ("forward", "backward", "backward_sorted"):
            for cc in sorted({r["cc"] for r in record["rows"]}):
                old = keyed.get(("before", before, spec, kernel, cc))
                new = keyed.get(("tuned", config, spec, kernel, cc))
                lines.append(f"| {kernel} | {spec} | sm_{cc} | {_cell(old).replace(' | ', ' / ')} "
                             f"| {config} | {_cell(new).replace(' | ', ' / ')} |")  # fmt: skip
    return lines


def render_markdown(record: dict[str, Any]) -> str:
    rows, machine = record["rows"], record["machine"]
    bad = failures(rows)
    lines = [
        "# Triton kernels compiled ahead of time for A100 (sm_80) and H100 (sm_90)",
        "",
        f"Command: `{record['command']}`; commit `{record['commit'][:12]}`; "
        f"{record['start']} to {record['end']}; compiled on CPU ({machine['processor']}, "
        f"{machine['cpu_count']} cores), Triton {machine['triton']}, torch {machine['torch']}.",
        "",
        "Registers per thread, spills (stack + local bytes per thread) and theoretical resident "
        "warps per SM (of 64; 65,536 registers, 32 blocks, "
        + ", ".join(f"{v['smem']} KiB shared on sm_{k}" for k, v in record["sm_limits"].items())
        + "). Args: `aligned` is Triton's specialisation at a training launch (16-aligned "
        "pointers, B, K, D multiples of 16, as at D = 2,304, B = 4,096, K = 64); `any` has no "
        "divisibility (any shape, e.g. K = 5, D = 70).",
        "",
        f"Compiles: {len(rows)}; errors and spills in launchable configurations: {len(bad)}.",
    ]
    lines += [f"- {b}" for b in bad]
    if any(r["set"] == "before" for r in rows):
        lines += ["", "## Before and after tuning (bf16; the table's choice for the args)", "",
                  *summary_table(record)]  # fmt: skip
    for label, title in (("before", "Before tuning (the launch before this check)"),
                         ("tuned", "After tuning: the table's two configurations and the other candidates")):  # fmt: skip
        if any(r["set"] == label for r in rows):
            lines += ["", f"## {title}", "", *resource_table(rows, label)]
    lines += ["", "## The launcher's table (d_in, K, dtype -> config)", "",
              "| d_in | K | dtype | config |", "|---|---|---|---|"]  # fmt: skip
    lines += [
        f"| {d['d_in']} | {d['K']} | {d['dtype']} | {d['config']} |" for d in record["defaults"]
    ]
    return "\n".join(lines) + "\n"


def write_outputs(record: dict[str, Any], out: Path) -> None:
    """The JSON at ``out`` and its rendering at ``out`` with suffix .md, each written atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, json.dumps(record, indent=1) + "\n")
    write_atomic(out.with_suffix(".md"), render_markdown(record))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path)
    args = parser.parse_args()
    record = json.loads(args.json.read_text())
    write_atomic(args.json.with_suffix(".md"), render_markdown(record))


if __name__ == "__main__":
    main()

"""Add a ``provenance`` block to the results JSON written before runners recorded one.

    python -m experiments.backfill_provenance [--check]

Each field holds what the JSON itself (or, for ``committed_in``, git) records, and
``common.UNKNOWN`` where nothing does: nothing is inferred or guessed. Runners record the full
block themselves (``experiments.common.provenance``). A file that has a block is left alone;
derived tables (``differences.json``) and the depth study (its own runner) are not touched.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from experiments.common import REPO, UNKNOWN, repo_path

HERE = Path(__file__).resolve().parent
RECORDS = (
    "htopk_pareto/*/comparison.json",
    "htopk_pareto/*/synthetic.json",
    "htopk_pareto/dsae_default/*/comparison.json",
    "htopk_pareto/dsae_scaling/scaling*.json",
    "lime_reproduction/lime_reproduction.json",
    "lime_ablation/lime_ablation.json",
    "lime_arithmetic/lime_arithmetic.json",
)
"""The run records (globs under ``experiments/``)."""


def committed_in(path: Path) -> str:
    """The commit that first added ``path`` (following renames), or UNKNOWN."""
    log = subprocess.run(
        ["git", "log", "--follow", "--diff-filter=A", "--format=%H", "--", repo_path(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.split()
    return log[-1] if log else UNKNOWN


def _seeds(record: dict[str, Any]) -> list[int] | str:
    if "runs" in record and record["runs"] and "seed" in record["runs"][0]:
        return sorted({r["seed"] for r in record["runs"]})
    baselines = record.get("config", {}).get("baselines", {})
    return [baselines["seed"]] if "seed" in baselines else UNKNOWN


def known(record: dict[str, Any], path: Path) -> dict[str, Any]:
    """The provenance fields ``record`` (and its sibling ``run.json``) hold; UNKNOWN elsewhere."""
    meta = record.get("meta", {})
    run = (
        json.loads((path.parent / "run.json").read_text())
        if (path.parent / "run.json").is_file()
        else {}
    )
    command = meta.get("command") or record.get("command") or run.get("command") or UNKNOWN
    machine = {
        k: meta[k] for k in ("machine", "device_name", "cpu_count", "torch", "python") if k in meta
    }
    return {
        "command": command,
        "git_commit": UNKNOWN,
        "committed_in": committed_in(path),
        "seeds": _seeds(record),
        "start_time": meta.get("started", UNKNOWN),
        "end_time": UNKNOWN,
        "wall_time_s": next(
            (d[k] for d in (meta, record, run) for k in ("wall_time_s", "wall_s") if k in d),
            UNKNOWN,
        ),
        "machine": machine or UNKNOWN,
        "backfilled": "recorded after the run from this file (and git); see experiments/backfill_provenance.py",
    }


def _indent(raw: str, record: Any) -> tuple[int | None, str]:
    for indent in (2, 1, None, 4):
        for trail in ("", "\n"):
            if json.dumps(record, indent=indent) + trail == raw:
                return indent, trail
    raise ValueError("cannot reproduce the file's JSON layout; refusing to rewrite it")


def backfill(path: Path, check: bool) -> bool:
    """True when ``path`` lacks a block (and, unless ``check``, gets one)."""
    raw = path.read_text()
    record = json.loads(raw)
    holder = record["meta"] if "meta" in record else record
    if "provenance" in holder:
        return False
    if not check:
        indent, trail = _indent(raw, record)
        holder["provenance"] = known(record, path)
        path.write_text(json.dumps(record, indent=indent) + trail)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if a record lacks a block")
    args = parser.parse_args(argv)
    paths = sorted({p for glob in RECORDS for p in HERE.glob(glob)})
    missing = [p for p in paths if backfill(p, args.check)]
    for p in missing:
        print(f"{'missing' if args.check else 'added'}: {repo_path(p)}")
    return 1 if args.check and missing else 0


if __name__ == "__main__":
    sys.exit(main())

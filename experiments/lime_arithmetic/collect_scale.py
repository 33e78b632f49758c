"""Copy a scale run's ``record.json`` (``lime_lens.arithmetic.scale_run``) into the repository,
adding one provenance entry per invocation not collected before.

    python -m experiments.lime_arithmetic.collect_scale RUN --session-hours H [--note TEXT]

``--note`` records how the new invocation ended where the command alone does not say (a stop by
hand right after a point, say); the results page prints it under the invocation table.

The run folder (checkpoints, a few MB per model) stays outside the repository; the record is
all the results page reads. A record of other settings than the one committed is refused.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from experiments.common import git_commit, machine_spec, now, repo_path
from lime_lens.arithmetic.scale_run import RECORD
from lime_lens.serialization import atomic_write_text

HERE = Path(__file__).resolve().parent
RESULT = HERE / "lime_arithmetic_scale.json"


def _command(record: dict[str, Any], run_dir: Path, session_hours: float | None) -> str:
    """The invocation's command line, from the record's settings."""
    args = ["python", "-m", "lime_lens.arithmetic.scale_run", "--out", str(run_dir)]
    args += ["--epochs", f"{record['run']['epochs']:g}"]
    if record["run"]["n_points"] != 8:
        args += ["--points", str(record["run"]["n_points"])]
    if session_hours is not None:
        args += ["--session-hours", f"{session_hours:g}"]
    return shlex.join(args)


def collect(
    run_dir: Path, session_hours: float | None, dest: Path = RESULT, note: str | None = None
) -> dict[str, Any]:
    """``run_dir``'s record with ``invocations`` (command, commit, machine, collection time, and
    ``note`` if given) for each of its sessions not collected before; written atomically to
    ``dest`` and returned."""
    source = run_dir / RECORD
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no record (is {run_dir} a scale_run --out folder?)")
    record = json.loads(source.read_text())
    old = json.loads(dest.read_text()) if dest.is_file() else {}
    if old and old["run"] != record["run"]:
        raise ValueError(
            f"{repo_path(dest)} holds a run of other settings than {source}: collect into a "
            "new file, or remove the old one on purpose"
        )
    invocations = old.get("invocations", [])
    for _ in range(len(invocations), len(record["sessions"])):
        invocations.append(
            {
                "command": _command(record, run_dir, session_hours),
                "git_commit_at_collection": git_commit(),
                "collected_at": now(),
                # the collector's machine; its thread count is the collector's, not the run's
                "machine": {k: v for k, v in machine_spec().items() if k != "torch_threads"},
            }
            | ({"note": note} if note else {})
        )
    record["invocations"] = invocations
    atomic_write_text(dest, json.dumps(record, indent=1) + "\n")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path, help="the scale_run --out folder")
    parser.add_argument("--session-hours", type=float, default=None)
    parser.add_argument("--out", type=Path, default=RESULT)
    parser.add_argument("--note", default=None, help="how the new invocation ended, if not by H")
    args = parser.parse_args()
    record = collect(args.run, args.session_hours, args.out, args.note)
    print(f"wrote {repo_path(args.out)}: {len(record['curve'])}/{len(record['points'])} points")


if __name__ == "__main__":
    main()

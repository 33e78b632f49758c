"""Merge the runs of further seeds into a run's JSON (same task, schedule and trainer).

    python -m experiments.lime_arithmetic.merge MAIN.json MORE.json [MORE.json ...]

Seeds are run as separate invocations of ``experiments.lime_arithmetic.run`` with ``--seeds S``
and ``--epochs`` set to the first run's planned epochs, so every seed follows one schedule. This
appends their runs to MAIN and records each invocation under ``more_seeds`` (seeds, command,
wall time, provenance). It refuses a file whose task, schedule, trainer or evaluation points
differ, or whose seeds are already in MAIN. (The seed-1 runs in the committed
``lime_arithmetic.json`` were merged before this module existed, into the same layout.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lime_lens.serialization import atomic_write_text

SAME = ("task", "train_config", "points", "max_steps", "row_length")
"""Fields that must agree for two runs to share one report (``train_config`` without its seed)."""


def _comparable(payload: dict[str, Any], key: str) -> Any:
    value = payload[key]
    return {k: v for k, v in value.items() if k != "seed"} if key == "train_config" else value


def merge(main: dict[str, Any], more: dict[str, Any], source: str) -> dict[str, Any]:
    """``main`` with the runs of ``more`` appended and the invocation logged."""
    for key in SAME:
        if _comparable(main, key) != _comparable(more, key):
            raise ValueError(f"{source}: {key} differs from the main run's; not merged")
    seeds = sorted({r["seed"] for r in more["runs"]})
    taken = {r["seed"] for r in main["runs"]} & set(seeds)
    if taken:
        raise ValueError(f"{source}: seeds {sorted(taken)} are already in the main run")
    log = {
        "seeds": seeds,
        "command": more["meta"]["command"],
        "wall_time_s": more["wall_time_s"],
        "provenance": more["meta"].get("provenance"),
    }
    return {
        **main,
        "runs": [*main["runs"], *more["runs"]],
        "more_seeds": [*main.get("more_seeds", []), log],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("main", type=Path)
    parser.add_argument("more", type=Path, nargs="+")
    args = parser.parse_args(argv)
    payload = json.loads(args.main.read_text())
    for path in args.more:
        payload = merge(payload, json.loads(path.read_text()), str(path))
    atomic_write_text(args.main, json.dumps(payload, indent=1, default=str))
    print(f"wrote {args.main}")


if __name__ == "__main__":
    main()

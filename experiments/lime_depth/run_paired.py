"""Runs of the paired depth pre-registration (``preregistration_paired.md``): LIMe-kv and the
parameter-matched vanilla (within 1%) per seed, at depths 4 and 32.

    OMP_NUM_THREADS=1 nice python -m experiments.lime_depth.run_paired --seeds 2 3 4

Stored runs with the identical recipe (``lime_depth.json``, ``lime_reproduction.json``) are copied
in, with their ``source``. Every finished run is merged into ``OUT`` under a file lock and written
atomically, so two invocations with disjoint seeds can run side by side, a stopped one leaves the
finished runs, and a rerun skips what is there (resumable). Each invocation is logged under
``meta["invocations"]`` (command, commit, seeds, start and end time, machine).
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from experiments.lime_depth.pairs import MATCHED
from experiments.lime_depth.recipe import (
    depth_shape,
    heatmap_rows,
    matched_baseline,
    recipe_matches,
)
from lime_lens.serialization import atomic_write_text
from lime_lens.train.tiny_recipe import TINY_SHAPE, TINY_TRAIN, smoke_train, train_tiny

HERE = Path(__file__).parent
REPO = HERE.parents[1]
OUT = HERE / "lime_depth_paired.json"
STORED = (
    HERE / "lime_depth.json",
    HERE.parent / "lime_reproduction" / "lime_reproduction.json",
)
"""Runs that are copied in where their recipe is identical (``reused``)."""
PREREGISTRATION = HERE / "preregistration_paired.md"


def plan(depths: list[int], seeds: list[int]) -> list[tuple[str, int, int]]:
    """(arch, depth, seed), seed-major so a partial set holds whole seeds."""
    return [(a, d, s) for s in seeds for d in depths for a in ("lime-kv", matched_baseline(d))]


def stored_runs() -> list[dict[str, Any]]:
    """Every run of the stored JSONs, tagged with its file (``depth`` from the shape if absent)."""
    runs = []
    for path in STORED:
        if path.is_file():
            for run in json.loads(path.read_text())["runs"]:
                if run.get("task", "lm") == "lm":
                    depth = run.get("depth", run["model_shape"]["n_layers"])
                    runs.append({**run, "depth": depth, "_file": path.relative_to(REPO).as_posix()})
    return runs


def reused(arch: str, depth: int, seed: int, stored: list[dict[str, Any]]) -> dict[str, Any] | None:
    for run in stored:
        if (run["arch"], run["depth"], run["seed"]) == (arch, depth, seed) and recipe_matches(
            run, depth_shape(arch, depth), seed
        ):
            source = f"{run['_file']} (identical recipe and seed)"
            return {k: v for k, v in run.items() if k != "_file"} | {"source": source}
    return None


def train_run(arch: str, depth: int, seed: int, recipe: dict[str, Any]) -> dict[str, Any]:
    started = now()
    model_arch = "vanilla" if arch == MATCHED else arch
    model, metrics = train_tiny(model_arch, seed, depth_shape(arch, depth), recipe)
    run = {
        "task": "lm",
        "depth": depth,
        **metrics,
        "arch": arch,
        "started": started,
        "ended": now(),
    }
    run["load_average"] = os.getloadavg()
    if arch == "lime-kv":
        run["routing_per_layer"] = heatmap_rows(model)
    return run


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@contextmanager
def locked(out: Path) -> Iterator[dict[str, Any]]:
    """The JSON under an exclusive lock; written back atomically on exit."""
    key = hashlib.sha1(str(out.resolve()).encode()).hexdigest()[:12]
    with open(Path(tempfile.gettempdir()) / f"lime_depth_paired.{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        payload = json.loads(out.read_text()) if out.is_file() else {"meta": {}, "runs": []}
        yield payload
        atomic_write_text(out, json.dumps(payload, indent=2, default=str))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim(out: Path, arch: str, depth: int, seed: int) -> bool:
    """Mark (arch, depth, seed) as being trained by this process, unless it is done or claimed by
    another live process: invocations side by side never train the same run twice."""
    key = f"{arch}/{depth}/{seed}"
    with locked(out) as payload:
        if (arch, depth, seed) in {(r["arch"], r["depth"], r["seed"]) for r in payload["runs"]}:
            return False
        claims = payload["meta"].setdefault("claims", {})
        holder = claims.get(key)
        if holder is not None and holder != os.getpid() and _alive(holder):
            return False
        claims[key] = os.getpid()
    return True


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO).stdout.strip()


def invocation(args: argparse.Namespace, planned: list[tuple[str, int, int]]) -> dict[str, Any]:
    return {
        "command": shlex.join(
            [
                "OMP_NUM_THREADS=1",
                "nice",
                "python",
                "-m",
                "experiments.lime_depth.run_paired",
                *sys.argv[1:],
            ]
        ),  # fmt: skip
        "commit": git("rev-parse", "HEAD") or "unknown",
        "uncommitted": git("status", "--porcelain", "--untracked-files=all").splitlines(),
        "depths": args.depths,
        "seeds": args.seeds,
        "planned": planned,
        "started": now(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "torch_threads": 1,
        "load_average_start": os.getloadavg(),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--depths", type=int, nargs="+", default=[4, 32])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--smoke-steps", type=int, default=None, help="a few-step smoke run (never the results)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    recipe = TINY_TRAIN
    if args.smoke_steps is not None:  # another recipe: nothing reused, never the results file
        if args.out.resolve() == OUT.resolve():
            raise ValueError(f"--out: a smoke run must not write the results file {OUT}")
        recipe = smoke_train(args.smoke_steps)
    stored = [] if args.smoke_steps is not None else stored_runs()
    planned = plan(args.depths, args.seeds)
    log = invocation(args, planned)
    with locked(args.out) as payload:
        meta = payload["meta"]
        if meta.setdefault("lm_train", dict(recipe)) != dict(recipe):
            raise ValueError(f"{args.out}: recorded with another recipe ({meta['lm_train']})")
        meta.setdefault("lm_shape", TINY_SHAPE)
        meta.setdefault("preregistration", PREREGISTRATION.relative_to(REPO).as_posix())
        meta.setdefault("invocations", []).append(log)
        index = len(meta["invocations"]) - 1
    t0 = time.time()
    for arch, depth, seed in planned:
        if not claim(args.out, arch, depth, seed):
            continue  # done, or being trained by another live invocation
        run = reused(arch, depth, seed, stored) or train_run(arch, depth, seed, recipe)
        with locked(args.out) as payload:
            payload["runs"].append(run)
            payload["meta"]["claims"].pop(f"{arch}/{depth}/{seed}", None)
            entry = payload["meta"]["invocations"][index]
            entry.update(
                ended=now(), wall_time_s=time.time() - t0, load_average_end=os.getloadavg()
            )
            entry["ran"] = [*entry.get("ran", []), [arch, depth, seed]]
        print(f"[{time.time() - t0:6.0f}s] {arch} depth {depth} seed {seed}", flush=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

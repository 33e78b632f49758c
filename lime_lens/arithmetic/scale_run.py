"""The step-task study at a real fraction of the paper's budget: 4 models in one stack, resumable.

LIMe-kv and vanilla, two seeds each (issue 25, item 5), train as one stack
(``lime_lens.train.multi_model``) on packed rows, under one linear-decay schedule over the
epochs chosen, and are scored on the FULL test set of every tier (greedy generation with the KV
cache, ``step_experiment.score_model``) at ``n_points`` evenly spaced points. Everything lives in
``out``: ``record.json`` (rewritten atomically after every point) and one checkpoint folder per
model (every ``checkpoint_every`` steps). The same command continues a stopped run exactly: from
the newest checkpoints, with the points already scored kept; a changed setting raises, naming it,
before anything is written. ``session_budget_s`` ends an invocation after the first point that
ends past it, so a run spreads over several invocations.

    python -m lime_lens.arithmetic.scale_run --out runs/arith --epochs 12 --session-hours 2.25
    python -m lime_lens.arithmetic.scale_run --plan results/benchmarks/small_models.json \
        --sessions 3 --session-hours 2.25        # epochs the budget allows; runs nothing
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from lime_lens.arithmetic.packing import default_row_len
from lime_lens.arithmetic.step_experiment import score_model
from lime_lens.arithmetic.step_recipe import STEP_ARCHES, STEP_EPOCHS, STEP_SHAPE, STEP_TRAIN
from lime_lens.arithmetic.step_task import StepTask, make_step_splits
from lime_lens.arithmetic.step_vocab import encode_steps, step_vocab
from lime_lens.serialization import atomic_write_text
from lime_lens.train import TrainConfig, build_model
from lime_lens.train.checkpoint import list_checkpoints
from lime_lens.train.multi_model import Packing, StackOptions, train_models
from lime_lens.train.packing import example_lengths

RECORD = "record.json"


@dataclass
class ScaleRun:
    """What the run is; every field but ``session_budget_s`` must match on resume."""

    out: str
    epochs: float
    """Epochs over the training mixture (all tiers); the schedule spans exactly these."""
    n_points: int = 8
    seeds: tuple[int, ...] = (0, 1)
    arches: tuple[str, ...] = STEP_ARCHES
    packed: bool = True
    device: str = "cpu"
    compile: bool = False
    cuda_graphs: bool = False
    checkpoint_every: int = 500
    task: StepTask = field(default_factory=StepTask)
    session_budget_s: float | None = None
    """End this invocation after the first evaluation point that ends past this many seconds; the
    next invocation resumes from the checkpoints."""

    def __post_init__(self) -> None:
        if not self.epochs > 0:
            raise ValueError(f"ScaleRun.epochs must be > 0, got {self.epochs}")
        if self.n_points < 1 or self.checkpoint_every < 1:
            raise ValueError("ScaleRun.n_points and checkpoint_every must be >= 1")


def model_name(arch: str, seed: int) -> str:
    """A stack member's name: its checkpoint folder and its key in the record's ``models``."""
    return f"{arch}-{seed}"


def settings(run: ScaleRun) -> dict[str, Any]:
    """The fields a resumed run must share (JSON-safe)."""
    out = asdict(run)
    out.pop("session_budget_s")
    return json.loads(json.dumps(out))


def check_unchanged(saved: dict[str, Any], now: dict[str, Any], where: str = "run") -> None:
    """Raise a ValueError naming the first field that differs between two settings dicts."""
    for name in sorted(set(saved) | set(now)):
        a, b = saved.get(name), now.get(name)
        if isinstance(a, dict) and isinstance(b, dict):
            check_unchanged(a, b, f"{where}.{name}")
        elif a != b:
            raise ValueError(
                f"{where}.{name} was {a!r} in the saved run, now {b!r}: resume with the same "
                "settings (or a new --out)"
            )


def _configs(run: ScaleRun, names: list[str], max_steps: int, stop: int) -> list[TrainConfig]:
    return [
        TrainConfig(
            **STEP_TRAIN,
            max_steps=max_steps,
            seed=0,  # the data order, shared by the stack
            stop_at_step=stop,
            checkpoint_dir=str(Path(run.out) / "checkpoints" / name),
            checkpoint_interval=run.checkpoint_every,
            keep_checkpoints=1,
            progress=False,
        )
        for name in names
    ]


def _done_step(run: ScaleRun, name: str) -> int:
    found = list_checkpoints(Path(run.out) / "checkpoints" / name)
    return int(found[-1].name.split("_")[1]) if found else 0


def run_scale(run: ScaleRun) -> dict[str, Any]:
    """Train to each remaining point, score there, write the record; return it."""
    t0, vocab = time.time(), step_vocab()
    path = Path(run.out) / RECORD
    record: dict[str, Any] = {"run": settings(run), "curve": [], "sessions": []}
    if path.is_file():
        saved = json.loads(path.read_text())
        check_unchanged(saved["run"], record["run"])
        record = saved
    splits = make_step_splits(run.task)
    rows = encode_steps([ex for tr, _ in splits.values() for ex in tr], vocab)
    tests = {n: [e for e, _ in te] for n, (_, te) in splits.items()}  # full test sets
    per_epoch = math.ceil(rows["tokens"].shape[0] / STEP_TRAIN["batch_size"])
    max_steps = max(run.n_points, round(run.epochs * per_epoch))
    points = sorted({round(max_steps * (k + 1) / run.n_points) for k in range(run.n_points)})
    names = [model_name(a, s) for a in run.arches for s in run.seeds]
    models = [
        build_model(a, STEP_SHAPE, len(vocab), seed=s, device=run.device)
        for a in run.arches
        for s in run.seeds
    ]
    packing = None
    if run.packed:
        packing = Packing(row_len=default_row_len(example_lengths(rows["tokens"], 0)))
    options = StackOptions(packing=packing, compile=run.compile, cuda_graphs=run.cuda_graphs)
    record.update(max_steps=max_steps, steps_per_epoch=per_epoch, points=points)
    record["sessions"].append({"started_at_step": _done_step(run, names[0])})
    for point in points:
        done = _done_step(run, names[0])
        if point <= done and any(c["step"] == point for c in record["curve"]):
            continue
        t_train = time.time()
        results = train_models(
            models, _configs(run, names, max_steps, point), rows, options, done > 0
        )
        t_score = time.time()
        entry = {"step": point, "epoch": point / per_epoch, "train_s": t_score - t_train}
        entry["models"] = {
            name: {
                "tiers": score_model(m, tests, rows["tokens"].shape[1] + 8),
                "train_loss_last": r.train_losses[-1],
            }
            for name, m, r in zip(names, models, results, strict=True)
        }
        entry["score_s"] = time.time() - t_score
        record["curve"].append(entry)
        record["sessions"][-1].update(ended_at_step=point, wall_s=time.time() - t0)
        atomic_write_text(path, json.dumps(record, indent=1))
        if run.session_budget_s is not None and time.time() - t0 > run.session_budget_s:
            break
    record["finished"] = _done_step(run, names[0]) >= max_steps
    atomic_write_text(path, json.dumps(record, indent=1))
    return json.loads(path.read_text())  # as a later session reads it (tier keys are strings)


def plan_epochs(
    bench: dict[str, Any],
    sessions: int,
    hours: float,
    n_points: int = 8,
    eval_s_per_point: float = 900.0,
) -> dict[str, Any]:
    """Epochs the CPU budget allows, from the benchmark's packed N = 4 real tokens/s in all."""
    tokens_per_s = bench["cases"]["packed_n4"]["real_tokens_per_s_in_all"] / 4  # per model
    mixture = StepTask()
    real_per_epoch = (
        bench["packing"]["mean_example_tokens"] * mixture.n_train * len(mixture.n_operands)
    )
    train_s = sessions * hours * 3600 - n_points * eval_s_per_point
    epochs = math.floor(10 * train_s * tokens_per_s / real_per_epoch) / 10
    return {
        "epochs": epochs,
        "share_of_paper_budget": epochs / STEP_EPOCHS,
        "assumptions": {
            "sessions": sessions,
            "hours_per_session": hours,
            "eval_s_per_point": eval_s_per_point,
            "per_model_real_tokens_per_s": tokens_per_s,
            "real_tokens_per_epoch": real_per_epoch,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=str)
    parser.add_argument("--epochs", type=float)
    parser.add_argument("--points", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--session-hours", type=float, default=None)
    parser.add_argument("--plan", type=Path, help="benchmark JSON: print the epochs, run nothing")
    parser.add_argument("--sessions", type=int, default=3)
    args = parser.parse_args()
    if args.plan:
        bench = json.loads(args.plan.read_text())
        print(json.dumps(plan_epochs(bench, args.sessions, args.session_hours or 2.25), indent=1))
        return
    if args.out is None or args.epochs is None:
        parser.error("--out and --epochs are required to run")
    torch.set_num_threads(args.threads)  # the entry point owns threads, never the library
    budget = None if args.session_hours is None else args.session_hours * 3600
    record = run_scale(
        ScaleRun(
            args.out,
            args.epochs,
            n_points=args.points,
            device=args.device,
            compile=args.compile,
            session_budget_s=budget,
        )
    )
    state = "finished" if record["finished"] else "paused: run the same command to continue"
    print(f"{len(record['curve'])}/{len(record['points'])} points, {state}")


if __name__ == "__main__":
    main()

"""The LIMe paper's step-by-step arithmetic experiment (v2 §5.3.2, App. A/B) in one command.

    python -m experiments.lime_arithmetic.run --device cuda --time-budget-s 240 --out results/gpu
    OMP_NUM_THREADS=1 nice python -m experiments.lime_arithmetic.run --device cpu \
        --time-budget-s 2700

Tiers of 4, 5 and 6 operands with 50,000 training expressions each (``--train-per-tier``),
LIMe-kv and vanilla at 4 layers / 4 heads / d_model 32, lr 1e-3 with linear decay, router lr x10
without weight decay, up to ``--epochs`` (paper: 200) or what fits in ``--time-budget-s``;
accuracy per tier by greedy generation at ``--points`` points of the schedule. Writes
``OUT/lime_arithmetic.json`` after every point (atomically: a stopped run leaves the finished
points); render it with ``python -m experiments.lime_arithmetic.render OUT/lime_arithmetic.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

from experiments.common import finish, provenance
from lime_lens.arithmetic.step_experiment import StepRun, run_step_experiment
from lime_lens.arithmetic.step_recipe import STEP_EPOCHS
from lime_lens.arithmetic.step_task import StepTask
from lime_lens.serialization import atomic_write_text


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--time-budget-s", type=float, default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--epochs", type=float, default=STEP_EPOCHS)
    parser.add_argument("--train-per-tier", type=int, default=50_000)
    parser.add_argument("--test-per-tier", type=int, default=1_000)
    parser.add_argument("--eval-per-tier", type=int, default=500)
    parser.add_argument("--points", type=int, default=4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    meta: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "experiments.lime_arithmetic.run", *sys.argv[1:]]),
        "device": args.device,
        "device_name": torch.cuda.get_device_name(args.device)
        if args.device.startswith("cuda")
        else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": args.threads,
        "load_average_start": os.getloadavg(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "provenance": provenance(args.seeds),
    }
    run = StepRun(
        task=StepTask(n_train=args.train_per_tier, n_test=args.test_per_tier),
        epochs=args.epochs,
        seeds=tuple(args.seeds),
        n_points=args.points,
        eval_per_tier=args.eval_per_tier,
        time_budget_s=args.time_budget_s,
        device=args.device,
    )
    out = args.out / "lime_arithmetic.json"

    def write(record: dict[str, Any]) -> None:
        meta["load_average_end"] = os.getloadavg()
        meta["provenance"] = finish(meta["provenance"])
        atomic_write_text(out, json.dumps({"meta": meta, **record}, indent=1, default=str))
        print(f"[{record['wall_time_s']:6.0f}s] wrote {out}", flush=True)

    run_step_experiment(run, on_point=write)
    print(f"render it with `python -m experiments.lime_arithmetic.render {out}`")


if __name__ == "__main__":
    main()

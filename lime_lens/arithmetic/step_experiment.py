"""Train LIMe-kv and vanilla on the step-by-step task and score them along the way (a curve).

Every model follows one linear-decay schedule over ``max_steps``; training stops at evenly spaced
points of it (``TrainConfig.stop_at_step`` + resume from the checkpoint, so the run is the same
as an uninterrupted one) and each model's greedy solutions of the held-out tiers are scored there.
The models alternate chunk by chunk, so a run stopped early leaves comparable curves. When a time
budget is given, ``max_steps`` is what fits in it (measured on throwaway models first), capped at
the requested epochs; the JSON says how many epochs that is.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from lime_lens.arithmetic.metrics import answer_loss
from lime_lens.arithmetic.scoring import generate_solutions, score_tier
from lime_lens.arithmetic.step_recipe import STEP_ARCHES, STEP_SHAPE, STEP_TRAIN
from lime_lens.arithmetic.step_task import StepTask, make_step_splits
from lime_lens.arithmetic.step_vocab import encode_steps, step_vocab
from lime_lens.train import TrainConfig, train
from lime_lens.train.architectures import ModelShape, build_model, count_params


@dataclass
class StepRun:
    """What to run: task, models, length and where."""

    task: StepTask
    epochs: float = 200.0
    """Requested epochs over the training mixture (all tiers)."""
    arches: tuple[str, ...] = STEP_ARCHES
    seeds: tuple[int, ...] = (0,)
    n_points: int = 4
    """Evaluation points along the schedule (the last one is the end of training)."""
    eval_per_tier: int = 500
    """Held-out expressions per tier scored at each point (the first ones of each test set)."""
    time_budget_s: float | None = None
    """Wall-clock budget of the whole run (data, planning, training, evaluation); None trains the
    requested epochs."""
    device: str = "cpu"
    shape: ModelShape = field(default_factory=lambda: ModelShape(**asdict(STEP_SHAPE)))

    def __post_init__(self) -> None:
        if not self.epochs > 0:
            raise ValueError(f"StepRun.epochs must be > 0, got {self.epochs}")
        if self.n_points < 1 or self.eval_per_tier < 1:
            raise ValueError(
                f"StepRun.n_points and eval_per_tier must be >= 1, got {self.n_points}, {self.eval_per_tier}"
            )
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise ValueError(f"StepRun.time_budget_s must be > 0 or None, got {self.time_budget_s}")


def _config(run: StepRun, max_steps: int, seed: int, stop: int, folder: Path) -> TrainConfig:
    return TrainConfig(
        **STEP_TRAIN,
        max_steps=max_steps,
        seed=seed,
        stop_at_step=stop,
        checkpoint_dir=str(folder),
        keep_checkpoints=1,
        progress=False,
    )


def _seconds_per_step(run: StepRun, rows: dict[str, torch.Tensor], d_vocab: int) -> float:
    """Measured seconds of one optimizer step of every (arch, seed) together."""
    total = 0.0
    for arch in run.arches:
        model = build_model(arch, run.shape, d_vocab, device=run.device)
        cfg = TrainConfig(**{**STEP_TRAIN, "max_steps": 12}, progress=False)
        result = train(model, cfg, rows, loss_fn=answer_loss)
        total += result.wall_time_s / cfg.max_steps
    return total * len(run.seeds)


def plan_steps(
    run: StepRun, rows: dict[str, torch.Tensor], d_vocab: int, eval_s: float, spent_s: float = 0.0
) -> tuple[int, int]:
    """(steps per epoch, max_steps): the requested epochs, or fewer when what is left of the budget
    after ``spent_s`` (data, the eval estimate) and the evaluations is short."""
    per_epoch = math.ceil(rows["tokens"].shape[0] / STEP_TRAIN["batch_size"])
    wanted = max(1, round(run.epochs * per_epoch))
    if run.time_budget_s is None:
        return per_epoch, wanted
    t0 = time.time()
    per_step = _seconds_per_step(run, rows, d_vocab)
    left = run.time_budget_s - spent_s - (time.time() - t0) - run.n_points * eval_s
    affordable = int(left / per_step)
    if affordable < run.n_points:
        raise ValueError(f"StepRun.time_budget_s={run.time_budget_s} leaves no time to train")
    return per_epoch, min(wanted, affordable)


def score_model(
    model: torch.nn.Module, tests: dict[int, list[str]], max_new_tokens: int
) -> dict[int, dict[str, Any]]:
    """Per tier: :func:`score_tier` of the model's greedy solutions."""
    vocab = step_vocab()
    return {
        n: score_tier(exprs, generate_solutions(model, vocab, exprs, max_new_tokens), n)
        for n, exprs in tests.items()
    }


def _plan_points(
    run: StepRun, train_rows: dict[str, torch.Tensor], n_vocab: int, eval_s: float, t0: float
) -> tuple[StepRun, int, int, list[int]]:
    """The run with its evaluation count fitted to the budget, steps per epoch, total steps and
    the steps at which the models are scored."""
    if run.time_budget_s is not None:  # evaluations may take at most half of what is left
        left = run.time_budget_s - (time.time() - t0)
        run = replace(run, n_points=max(1, min(run.n_points, int(0.5 * left / eval_s))))
    per_epoch, max_steps = plan_steps(run, train_rows, n_vocab, eval_s, time.time() - t0)
    points = sorted(
        {max(1, round(max_steps * (k + 1) / run.n_points)) for k in range(run.n_points)}
    )
    return run, per_epoch, max_steps, points


def run_step_experiment(
    run: StepRun, on_point: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Train every (arch, seed) with checkpoints at ``n_points`` points; return the record."""
    t0, vocab = time.time(), step_vocab()
    splits = make_step_splits(run.task)
    train_rows = encode_steps([ex for tr, _ in splits.values() for ex in tr], vocab)
    if train_rows["tokens"].shape[1] > run.shape.n_ctx:
        raise ValueError(
            f"rows of {train_rows['tokens'].shape[1]} tokens exceed n_ctx {run.shape.n_ctx}"
        )
    tests = {n: [e for e, _ in te[: run.eval_per_tier]] for n, (_, te) in splits.items()}
    max_new = train_rows["tokens"].shape[1] + 8
    models = {
        (a, s): build_model(a, run.shape, len(vocab), seed=s, device=run.device)
        for a in run.arches
        for s in run.seeds
    }
    t_eval = time.time()
    first = next(iter(models.values()))
    score_model(first, tests, max_new)  # an untrained model runs to max_new: an upper bound
    eval_s = (time.time() - t_eval) * len(models)
    run, per_epoch, max_steps, points = _plan_points(run, train_rows, len(vocab), eval_s, t0)
    record: dict[str, Any] = {
        "task": asdict(run.task),
        "run": {**asdict(run), "task": None, "shape": asdict(run.shape)},
        "train_config": _config(run, max_steps, 0, max_steps, Path(".")).to_dict(),
        "train_rows": int(train_rows["tokens"].shape[0]),
        "row_length": int(train_rows["tokens"].shape[1]),
        "steps_per_epoch": per_epoch,
        "max_steps": max_steps,
        "epochs_planned": max_steps / per_epoch,
        "points": points,
        "eval_upper_bound_s": eval_s,
        "runs": [
            {"arch": a, "seed": s, "n_params": count_params(m), "curve": [], "train_losses": []}
            for (a, s), m in models.items()
        ],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for point in points:
            for entry, ((arch, seed), model) in zip(record["runs"], models.items(), strict=True):
                folder = Path(tmp) / f"{arch}-{seed}"
                cfg = _config(run, max_steps, seed, point, folder)
                resume = folder if folder.exists() else None
                result = train(model, cfg, train_rows, loss_fn=answer_loss, resume_from=resume)
                losses = result.train_losses
                entry["train_losses"] = [
                    sum(losses[i : i + 10]) / len(losses[i : i + 10])
                    for i in range(0, len(losses), 10)
                ]
                entry["curve"].append(
                    {
                        "step": point,
                        "epoch": point / per_epoch,
                        "tiers": score_model(model, tests, max_new),
                    }
                )
            record["wall_time_s"] = time.time() - t0
            if on_point is not None:
                on_point(record)
    return record

"""TrainConfig: every knob of ``lime_lens.train.train``, validated at construction."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Precision = Literal["auto", "fp32", "bf16"]
Parallel = Literal["ddp", "fsdp"]
Schedule = Literal["cosine", "linear"]


@dataclass
class TrainConfig:
    """Optimisation, schedule, evaluation and checkpointing for one training run.

    Defaults follow the LIMe paper, App. A: AdamW lr 1e-3 (router 1e-2, no weight decay on the
    router), weight decay 0.1, betas (0.9, 0.95), eps 1e-8, cosine schedule with 200 warmup steps
    down to 1e-6, gradient clipping at 1.0.
    """

    max_steps: int = 1000
    """Optimizer steps of the whole run; the cosine schedule spans exactly these."""
    batch_size: int = 16
    """GLOBAL batch in sequences per optimizer step; split evenly over the distributed ranks."""
    lr: float = 1e-3
    """Peak learning rate of every parameter outside the router group."""
    router_lr: float = 1e-2
    """Peak learning rate of router parameters (names matching ``router_param_regex``)."""
    router_param_regex: str = r"\.lime\.route"
    """Parameters whose name matches this regex form the router group (no weight decay)."""
    weight_decay: float = 0.1
    """AdamW weight decay on matrices (ndim >= 2); norms, biases and routers get none."""
    betas: Sequence[float] = (0.9, 0.95)
    """AdamW betas, two values; stored as a tuple (``to_dict`` and JSON give a list)."""
    eps: float = 1e-8
    """AdamW epsilon."""
    warmup_steps: int = 200
    """Linear warmup from 0 to the peak learning rate over these steps."""
    min_lr: float = 1e-6
    """The decay ends at ``min_lr`` (scaled by router_lr / lr for the router group)."""
    schedule: Schedule = "cosine"
    """Decay after warmup: "cosine" (the LM recipe) or "linear" (the arithmetic recipe, App. A)."""
    grad_clip: float | None = 1.0
    """Clip the global gradient norm to this value; None disables clipping."""
    precision: Precision = "auto"
    """"bf16" autocast, "fp32", or "auto" (bf16 on CUDA devices that support it, else fp32)."""
    parallel: Parallel = "ddp"
    """Multi-process strategy under torchrun: "ddp" (replicated) or "fsdp" (sharded, FSDP2)."""
    seed: int = 0
    """Seeds the data order and the torch RNG (rank r uses seed + r for its own RNG)."""
    eval_interval: int = 100
    """Validate every this many steps (and after the last step); 0 validates only at the end."""
    eval_batches: int | None = None
    """Batches of ``batch_size`` sequences per validation; None uses the whole validation set."""
    log_interval: int = 10
    """Refresh the progress bar's loss/lr read-out every this many steps."""
    checkpoint_dir: str | None = None
    """Folder for ``step_XXXXXXXX`` checkpoints; None disables checkpointing."""
    checkpoint_interval: int = 0
    """Checkpoint every this many steps (and at the end) when ``checkpoint_dir`` is set; 0: end only."""
    keep_checkpoints: int = 2
    """Keep only the newest this many checkpoints (0 keeps all)."""
    stop_at_step: int | None = None
    """Stop (with a checkpoint) after this step without changing the schedule, e.g. to fit a job
    time limit; a later run with the same config and ``resume`` continues exactly."""
    progress: bool = True
    """Show a tqdm progress bar (rank 0 only)."""

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)
        positive = {
            "max_steps": self.max_steps,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "router_lr": self.router_lr,
            "eps": self.eps,
            "log_interval": self.log_interval,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"TrainConfig.{name} must be > 0, got {value!r}")
        non_negative = {
            "weight_decay": self.weight_decay,
            "warmup_steps": self.warmup_steps,
            "min_lr": self.min_lr,
            "eval_interval": self.eval_interval,
            "checkpoint_interval": self.checkpoint_interval,
            "keep_checkpoints": self.keep_checkpoints,
        }
        for name, value in non_negative.items():
            if not value >= 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {value!r}")
        self._check_choices()
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"TrainConfig.betas must be two values in [0, 1), got {self.betas!r}")
        if self.min_lr > self.lr:
            raise ValueError(f"TrainConfig.min_lr ({self.min_lr}) must not exceed lr ({self.lr})")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"TrainConfig.grad_clip must be > 0 or None, got {self.grad_clip!r}")
        if self.eval_batches is not None and self.eval_batches < 1:
            raise ValueError(
                f"TrainConfig.eval_batches must be >= 1 or None, got {self.eval_batches!r}"
            )
        if self.stop_at_step is not None and not 0 < self.stop_at_step <= self.max_steps:
            raise ValueError(
                f"TrainConfig.stop_at_step must be in [1, max_steps={self.max_steps}], got {self.stop_at_step!r}"
            )
        if self.stop_at_step is not None and self.checkpoint_dir is None:
            raise ValueError("TrainConfig.stop_at_step needs checkpoint_dir (to resume from)")
        try:
            re.compile(self.router_param_regex)
        except re.error as err:
            raise ValueError(f"TrainConfig.router_param_regex is not a regex: {err}") from err

    def _check_choices(self) -> None:
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(
                f"TrainConfig.precision must be auto, fp32 or bf16, got {self.precision!r}"
            )
        if self.schedule not in ("cosine", "linear"):
            raise ValueError(
                f"TrainConfig.schedule must be cosine or linear, got {self.schedule!r}"
            )
        if self.parallel not in ("ddp", "fsdp"):
            raise ValueError(f"TrainConfig.parallel must be ddp or fsdp, got {self.parallel!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict; ``TrainConfig(**cfg.to_dict())`` rebuilds it."""
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        return out

    @property
    def last_step(self) -> int:
        """The step this invocation stops after (``stop_at_step`` or ``max_steps``)."""
        return self.stop_at_step if self.stop_at_step is not None else self.max_steps

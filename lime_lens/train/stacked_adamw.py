"""AdamW over a stack of N models: each model its own learning rates, decay, clipping and moments.

The update is ``torch.optim.AdamW``'s (decoupled decay, bias-corrected moments), written with a
per-model rate broadcast along the stack axis, so one set of tensor operations updates all N
models while each keeps the hyper-parameters of its own ``TrainConfig`` (LIMe App. A: lr 1e-3,
router lr 1e-2 without weight decay). Gradient clipping uses each model's own global norm, as
``torch.nn.utils.clip_grad_norm_`` would on that model alone. The moments convert to and from a
``torch.optim.AdamW`` of each single model (:func:`to_torch_state`), so every model checkpoints
in the ordinary trainer's format and resumes in either trainer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from jaxtyping import Float

from lime_lens.train.config import TrainConfig
from lime_lens.train.schedule import SCHEDULES
from lime_lens.train.stacked_model import Params


def param_kind(name: str, param: torch.Tensor, router_regex: str) -> str:
    """The AdamW group of ``lime_lens.train.trainer.param_groups``; ``param`` is one model's slice."""
    if re.search(router_regex, name):
        return "router"
    return "decay" if param.ndim >= 2 else "no_decay"


def scheduled_rates(
    cfgs: Sequence[TrainConfig], step: int, device: torch.device
) -> dict[str, Float[torch.Tensor, " n"]]:
    """Per group, each model's learning rate at ``step`` (``trainer.set_learning_rates``)."""
    rates: dict[str, list[float]] = {"decay": [], "no_decay": [], "router": []}
    for cfg in cfgs:
        schedule = SCHEDULES[cfg.schedule]
        for kind, peak in (("decay", cfg.lr), ("no_decay", cfg.lr), ("router", cfg.router_lr)):
            floor = cfg.min_lr * peak / cfg.lr
            rates[kind].append(schedule(step, peak, floor, cfg.warmup_steps, cfg.max_steps))
    return {k: torch.tensor(v, dtype=torch.float64, device=device) for k, v in rates.items()}


def _per_model(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """[N] values shaped to broadcast against ``like`` [N, ...]."""
    return values.to(like.dtype).view(-1, *([1] * (like.ndim - 1)))


@dataclass
class StackedAdamW:
    """AdamW state of a stack; ``kinds[name]`` is each parameter's group."""

    params: Params
    kinds: dict[str, str]
    cfgs: Sequence[TrainConfig]
    trainable: dict[str, Float[torch.Tensor, " n"]]
    """Per parameter, 1.0 for models that train it, 0.0 where it is held fixed (vanilla routes)."""
    step_count: int = 0
    exp_avg: dict[str, torch.Tensor] = field(default_factory=dict)
    exp_avg_sq: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, p in self.params.items():
            self.exp_avg.setdefault(
                name, torch.zeros_like(p, memory_format=torch.contiguous_format)
            )
            self.exp_avg_sq.setdefault(
                name, torch.zeros_like(p, memory_format=torch.contiguous_format)
            )

    @torch.no_grad()
    def clip_and_mask(self) -> Float[torch.Tensor, " n"]:
        """Zero the gradients of fixed slices, clip each model's gradient to its ``grad_clip``;
        return each model's gradient norm before clipping."""
        grads = {n: p.grad for n, p in self.params.items() if p.grad is not None}
        for name, g in grads.items():
            g.mul_(_per_model(self.trainable[name], g))
        sq = sum(g.pow(2).flatten(1).sum(1, dtype=torch.float64) for g in grads.values())
        norm = torch.as_tensor(sq).sqrt()
        limits = [math.inf if c.grad_clip is None else c.grad_clip for c in self.cfgs]
        limit = torch.tensor(limits, dtype=torch.float64, device=norm.device)
        coef = (limit / (norm + 1e-6)).clamp(max=1.0)
        for g in grads.values():
            g.mul_(_per_model(coef.to(g.dtype), g))
        return norm

    @torch.no_grad()
    def step(self, rates: dict[str, torch.Tensor]) -> None:
        """One AdamW update of every model with its own ``rates[kind]`` [N]."""
        self.step_count += 1
        beta1, beta2 = self.cfgs[0].betas
        eps = self.cfgs[0].eps
        bc1 = 1 - beta1**self.step_count
        bc2_sqrt = math.sqrt(1 - beta2**self.step_count)
        decay = torch.tensor([c.weight_decay for c in self.cfgs], dtype=torch.float64)
        for name, p in self.params.items():
            if p.grad is None:
                continue
            kind = self.kinds[name]
            lr = rates[kind].to(p.device) * self.trainable[name].to(p.device, torch.float64)
            wd = decay.to(p.device) if kind == "decay" else torch.zeros_like(lr)
            p.mul_(_per_model(1 - lr * wd, p))
            m, v = self.exp_avg[name], self.exp_avg_sq[name]
            m.lerp_(p.grad, 1 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            denom = (v.sqrt() / bc2_sqrt).add_(eps)
            p.sub_(_per_model(lr / bc1, p) * m / denom)

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None


def build_optimizer(
    params: Params, route_trainable: torch.Tensor, cfgs: Sequence[TrainConfig]
) -> StackedAdamW:
    """The stack's optimizer: groups as the single-model trainer, vanilla routes held fixed."""
    kinds = {n: param_kind(n, p[0], cfgs[0].router_param_regex) for n, p in params.items()}
    ones = torch.ones(len(cfgs), dtype=torch.float64)
    trainable = {
        n: route_trainable.to(torch.float64) if kinds[n] == "router" else ones for n in params
    }
    return StackedAdamW(params, kinds, cfgs, trainable)


def to_torch_state(opt: StackedAdamW, i: int, name: str) -> dict[str, torch.Tensor]:
    """Model ``i``'s ``torch.optim.AdamW`` state of parameter ``name``."""
    return {
        "step": torch.tensor(float(opt.step_count)),
        "exp_avg": opt.exp_avg[name][i].clone(),
        "exp_avg_sq": opt.exp_avg_sq[name][i].clone(),
    }

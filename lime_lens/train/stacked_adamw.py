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


def _grads(params: list[torch.Tensor]) -> list[torch.Tensor]:
    """The gradients that exist (a parameter no loss reached has none)."""
    return [p.grad for p in params if p.grad is not None]


@dataclass
class StackedAdamW:
    """AdamW state of a stack; ``kinds[name]`` is each parameter's group."""

    params: Params
    kinds: dict[str, str]
    cfgs: Sequence[TrainConfig]
    trainable: dict[str, Float[torch.Tensor, " n"]]
    """Per group kind, 1.0 for models that train it, 0.0 where it is held fixed (vanilla routes)."""
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
        # Parameters grouped by (kind, ndim): one [N, 1, ...] rate view serves a whole group, so
        # a step is a few multi-tensor ops per group, not a few ops per parameter.
        self.groups: dict[tuple[str, int], list[str]] = {}
        for name, p in self.params.items():
            self.groups.setdefault((self.kinds[name], p.ndim), []).append(name)
        first = next(iter(self.params.values()))
        decay = [c.weight_decay for c in self.cfgs]
        self.decay = torch.tensor(decay, dtype=torch.float64, device=first.device)
        limits = [math.inf if c.grad_clip is None else c.grad_clip for c in self.cfgs]
        self.limit = torch.tensor(limits, dtype=torch.float64, device=first.device)
        self.trainable = {k: v.to(first.device, torch.float64) for k, v in self.trainable.items()}

    @torch.no_grad()
    def clip_and_mask(self) -> Float[torch.Tensor, " n"]:
        """Zero the gradients of fixed slices, clip each model's gradient to its ``grad_clip``;
        return each model's gradient norm before clipping."""
        for (kind, ndim), names in self.groups.items():
            grads = _grads([self.params[n] for n in names])
            if kind == "router" and grads:
                mask = self.trainable[kind].to(grads[0].dtype).view(-1, *[1] * (ndim - 1))
                torch._foreach_mul_(grads, [mask] * len(grads))  # type: ignore[list-item]
        grads = _grads(list(self.params.values()))
        n = len(self.cfgs)
        flat = torch.cat([g.reshape(n, -1) for g in grads], dim=1)
        norm = flat.pow(2).sum(1, dtype=torch.float64).sqrt()
        coef = (self.limit / (norm + 1e-6)).clamp(max=1.0).to(flat.dtype)
        for ndim in {g.ndim for g in grads}:
            same = [g for g in grads if g.ndim == ndim]
            torch._foreach_mul_(same, [coef.view(-1, *[1] * (ndim - 1))] * len(same))  # type: ignore[list-item]
        return norm

    @torch.no_grad()
    def step(self, rates: dict[str, torch.Tensor]) -> None:
        """One AdamW update of every model with its own ``rates[kind]`` [N].

        ``torch._foreach_*`` ops per (kind, ndim) group (as ``torch.optim.AdamW(foreach=True)``),
        each model's rate broadcast along the stack axis.
        """
        self.step_count += 1
        beta1, beta2 = self.cfgs[0].betas
        eps = self.cfgs[0].eps
        bc1 = 1 - beta1**self.step_count
        bc2_sqrt = math.sqrt(1 - beta2**self.step_count)
        for (kind, ndim), names in self.groups.items():
            names = [n for n in names if self.params[n].grad is not None]
            if not names:
                continue
            params = [self.params[n] for n in names]
            grads = _grads(params)
            ms, vs = [self.exp_avg[n] for n in names], [self.exp_avg_sq[n] for n in names]
            shape = (-1, *[1] * (ndim - 1))
            lr = rates[kind].to(params[0].device, torch.float64)  # as torch: rates in double
            lr = lr * self.trainable.get(kind, torch.ones_like(lr))
            if kind == "decay":
                shrink = (1 - lr * self.decay).to(params[0].dtype).view(shape)
                torch._foreach_mul_(params, [shrink] * len(params))  # type: ignore[list-item]
            torch._foreach_lerp_(ms, grads, 1 - beta1)
            torch._foreach_mul_(vs, beta2)
            torch._foreach_addcmul_(vs, grads, grads, value=1 - beta2)
            denom = torch._foreach_sqrt(vs)
            torch._foreach_div_(denom, bc2_sqrt)
            torch._foreach_add_(denom, eps)
            update = torch._foreach_div(ms, denom)
            step_size = (-lr / bc1).to(params[0].dtype).view(shape)
            torch._foreach_mul_(update, [step_size] * len(update))  # type: ignore[list-item]
            torch._foreach_add_(params, update)

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None


def build_optimizer(
    params: Params, route_trainable: torch.Tensor, cfgs: Sequence[TrainConfig]
) -> StackedAdamW:
    """The stack's optimizer: groups as the single-model trainer, vanilla routes held fixed."""
    kinds = {n: param_kind(n, p[0], cfgs[0].router_param_regex) for n, p in params.items()}
    return StackedAdamW(params, kinds, cfgs, {"router": route_trainable.to(torch.float64)})


def to_torch_state(opt: StackedAdamW, i: int, name: str) -> dict[str, torch.Tensor]:
    """Model ``i``'s ``torch.optim.AdamW`` state of parameter ``name``."""
    return {
        "step": torch.tensor(float(opt.step_count)),
        "exp_avg": opt.exp_avg[name][i].clone(),
        "exp_avg_sq": opt.exp_avg_sq[name][i].clone(),
    }

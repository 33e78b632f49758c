"""The training loop: ``train(model, cfg, train_data, val_data) -> TrainResult``.

Model-agnostic: any ``nn.Module`` whose loss ``loss_fn(model, batch)`` returns a scalar mean
(default: TransformerLens' ``model(tokens, return_type="loss")``). One loop for one process,
DDP and FSDP; the steps below are small named functions.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from lime_lens.train.checkpoint import load_checkpoint, save_checkpoint
from lime_lens.train.config import TrainConfig
from lime_lens.train.data import BatchOrder, Rows, n_rows, rank_slice, take_rows
from lime_lens.train.distributed import (
    DistInfo,
    all_reduce_mean,
    all_reduce_sum,
    init_distributed,
    unwrap,
    wrap_model,
)
from lime_lens.train.schedule import SCHEDULES

LossFn = Callable[[nn.Module, Rows], torch.Tensor]


def lm_loss(model: nn.Module, batch: Rows) -> torch.Tensor:
    """Mean next-token cross-entropy of a TransformerLens model on ``batch`` (or batch["tokens"])."""
    tokens = batch if isinstance(batch, torch.Tensor) else batch["tokens"]
    return model(tokens, return_type="loss")


@dataclass
class TrainResult:
    """What a run produced. Histories cover the whole run, including steps before a resume."""

    train_losses: list[float]
    """Global mean training loss of every optimizer step (identical on all ranks)."""
    val_history: list[dict[str, int | float]]
    """``{"step", "loss", "perplexity"}`` at every validation."""
    samples_seen: int
    """Training sequences consumed since step 0."""
    tokens_seen: int
    """Training tokens consumed since step 0 (sequences x row length)."""
    wall_time_s: float
    """Wall time of this invocation (after a resume: since the resume)."""
    tokens_per_s: float
    """Training throughput of this invocation, optimizer steps only (validation excluded)."""
    checkpoint: Path | None = None
    """The last checkpoint written, if any."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def val_loss(self) -> float:
        """The last validation loss (nan if none ran)."""
        return self.val_history[-1]["loss"] if self.val_history else math.nan


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    """AdamW groups: decayed matrices, undecayed vectors, and the router (LIMe App. A)."""
    router = re.compile(cfg.router_param_regex)
    groups: dict[str, dict[str, Any]] = {
        "decay": {"params": [], "weight_decay": cfg.weight_decay, "peak_lr": cfg.lr},
        "no_decay": {"params": [], "weight_decay": 0.0, "peak_lr": cfg.lr},
        "router": {"params": [], "weight_decay": 0.0, "peak_lr": cfg.router_lr},
    }
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        kind = "router" if router.search(name) else "decay" if param.ndim >= 2 else "no_decay"
        groups[kind]["params"].append(param)
    return [{"name": kind, "lr": g["peak_lr"], **g} for kind, g in groups.items() if g["params"]]


def set_learning_rates(optimizer: torch.optim.Optimizer, step: int, cfg: TrainConfig) -> float:
    """Apply the warmup + ``cfg.schedule`` decay to every group; return the base group's rate."""
    schedule = SCHEDULES[cfg.schedule]
    for group in optimizer.param_groups:
        floor = cfg.min_lr * group["peak_lr"] / cfg.lr
        group["lr"] = schedule(step, group["peak_lr"], floor, cfg.warmup_steps, cfg.max_steps)
    return schedule(step, cfg.lr, cfg.min_lr, cfg.warmup_steps, cfg.max_steps)


def use_bf16(cfg: TrainConfig, device: torch.device) -> bool:
    if cfg.precision == "auto":
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    return cfg.precision == "bf16"


def to_device(batch: Rows, device: torch.device) -> Rows:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def row_length(data: Rows) -> int:
    tokens = (
        data if isinstance(data, torch.Tensor) else data.get("tokens", next(iter(data.values())))
    )
    return int(tokens[0].numel())


@torch.no_grad()
def evaluate(
    model: nn.Module, val_data: Rows, cfg: TrainConfig, info: DistInfo, loss_fn: LossFn
) -> float:
    """Row-weighted mean loss over the validation rows, sharded over ranks.

    Every rank runs the same number of forward passes (FSDP's collectives need it); a rank out
    of rows runs a zero-weight dummy batch.
    """
    per_rank = cfg.batch_size // info.world_size
    total = (
        n_rows(val_data)
        if cfg.eval_batches is None
        else min(n_rows(val_data), cfg.eval_batches * cfg.batch_size)
    )
    mine = torch.arange(info.rank, total, info.world_size)
    n_batches = math.ceil(math.ceil(total / info.world_size) / per_rank)
    was_training = model.training
    model.eval()
    loss_sum, weight = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    autocast = torch.autocast(
        info.device.type, dtype=torch.bfloat16, enabled=use_bf16(cfg, info.device)
    )
    for b in range(n_batches):
        index = mine[b * per_rank : (b + 1) * per_rank]
        rows = index.numel()
        batch = to_device(
            take_rows(val_data, index if rows else torch.zeros(1, dtype=torch.long)), info.device
        )
        with autocast:
            loss = loss_fn(model, batch).float()
        loss_sum += loss.double().cpu() * rows
        weight += rows
    model.train(was_training)
    return (all_reduce_sum(loss_sum, info) / all_reduce_sum(weight, info)).item()


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Rows,
    cfg: TrainConfig,
    info: DistInfo,
    loss_fn: LossFn,
) -> torch.Tensor:
    """One optimizer step; returns this rank's loss (detached)."""
    with torch.autocast(info.device.type, dtype=torch.bfloat16, enabled=use_bf16(cfg, info.device)):
        loss = loss_fn(model, batch)
    loss.backward()
    if cfg.grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach().float()


def _due(done: int, interval: int, final: int) -> bool:
    """Every ``interval`` steps (0: never) and at step ``final``."""
    return (interval > 0 and done % interval == 0) or done == final


def _record_val(
    history: list[dict[str, int | float]], step: int, loss: float
) -> dict[str, int | float]:
    entry = {"step": step, "loss": loss, "perplexity": math.exp(min(loss, 700.0))}
    history.append(entry)
    return entry


def _log_val(bar: Any, entry: dict[str, int | float], cfg: TrainConfig, info: DistInfo) -> None:
    """Print one validation entry above the progress bar (rank 0, when progress is on)."""
    if info.is_main and cfg.progress:
        bar.write(
            f"step {entry['step']}: val loss {entry['loss']:.4f}, perplexity {entry['perplexity']:.2f}"
        )


def _prepare(
    model: nn.Module, cfg: TrainConfig, info: DistInfo
) -> tuple[nn.Module, torch.optim.Optimizer]:
    """Move ``model`` to this rank's device, wrap it (DDP/FSDP) and build its AdamW."""
    if next(model.parameters()).device != info.device:
        model.to(info.device)
    wrapped = wrap_model(model, cfg.parallel, info)
    optimizer = torch.optim.AdamW(
        param_groups(unwrap(wrapped), cfg), betas=(cfg.betas[0], cfg.betas[1]), eps=cfg.eps
    )
    return wrapped, optimizer


def train(
    model: nn.Module,
    cfg: TrainConfig,
    train_data: Rows,
    val_data: Rows | None = None,
    loss_fn: LossFn = lm_loss,
    resume_from: str | Path | None = None,
) -> TrainResult:
    """Train ``model`` in place on rows of ``train_data`` (e.g. BOS-prefixed token rows).

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every rank calls this with the same arguments; the
    global batch ``cfg.batch_size`` is split over ranks, so the loss curve matches one process.
    ``resume_from`` (a checkpoint or a folder of them) continues a run exactly.
    """
    info = init_distributed(next(model.parameters()).device)
    rank_rows = rank_slice(cfg.batch_size, info.rank, info.world_size)
    wrapped, optimizer = _prepare(model, cfg, info)
    state: dict[str, Any] = {"step": 0, "samples_seen": 0, "train_losses": [], "val_history": []}
    torch.manual_seed(cfg.seed + info.rank)
    if resume_from is not None:
        state.update(load_checkpoint(resume_from, wrapped, optimizer, info, cfg.to_dict()))
    order, row_len = BatchOrder(n_rows(train_data), cfg.seed), row_length(train_data)
    checkpoint, start, train_time, t0 = None, state["step"], 0.0, time.perf_counter()
    bar = tqdm(
        total=cfg.last_step,
        initial=start,
        disable=not (cfg.progress and info.is_main),
        desc="train",
    )
    wrapped.train()
    for step in range(start, cfg.last_step):
        lr = set_learning_rates(optimizer, step, cfg)
        index = order.indices(state["samples_seen"], cfg.batch_size)[rank_rows]
        t_step = time.perf_counter()
        batch = to_device(take_rows(train_data, index), info.device)
        loss = train_step(wrapped, optimizer, batch, cfg, info, loss_fn)
        state["train_losses"].append(all_reduce_mean(loss, info).item())
        train_time += time.perf_counter() - t_step
        state["samples_seen"] += cfg.batch_size
        state["step"] = done = step + 1
        if done % cfg.log_interval == 0 or done == cfg.last_step:
            bar.set_postfix(loss=f"{state['train_losses'][-1]:.3f}", lr=f"{lr:.2e}")
        if val_data is not None and _due(done, cfg.eval_interval, cfg.max_steps):
            val_loss = evaluate(wrapped, val_data, cfg, info, loss_fn)
            _log_val(bar, _record_val(state["val_history"], done, val_loss), cfg, info)
        if cfg.checkpoint_dir and _due(done, cfg.checkpoint_interval, cfg.last_step):
            trainer_state = {**state, "train_config": cfg.to_dict()}
            checkpoint = save_checkpoint(
                cfg.checkpoint_dir, wrapped, optimizer, trainer_state, info, cfg.keep_checkpoints
            )
        bar.update(1)
    bar.close()
    n_tokens = (cfg.last_step - start) * cfg.batch_size * row_len
    tokens_per_s = n_tokens / train_time if train_time > 0 else math.nan
    return _result(state, row_len, time.perf_counter() - t0, tokens_per_s, checkpoint, cfg, info)


def _result(
    state: dict[str, Any],
    row_len: int,
    wall_time_s: float,
    tokens_per_s: float,
    checkpoint: Path | None,
    cfg: TrainConfig,
    info: DistInfo,
) -> TrainResult:
    return TrainResult(
        train_losses=list(state["train_losses"]),
        val_history=list(state["val_history"]),
        samples_seen=state["samples_seen"],
        tokens_seen=state["samples_seen"] * row_len,
        wall_time_s=wall_time_s,
        tokens_per_s=tokens_per_s,
        checkpoint=checkpoint,
        extra={"world_size": info.world_size, "bf16": use_bf16(cfg, info.device)},
    )

"""Train N same-shape models in one batched computation on the same batches: ``train_models``.

Studies of small models (arms x seeds) train many models of one shape; at d_model 32 a step is
per-operation overhead, so N models stacked (``lime_lens.train.stacked_model``) cost about one.
Each model keeps its own parameters, AdamW moments, learning rates (router lr included, App. A),
gradient clipping and ``checkpoint_dir``; its checkpoints are the ordinary trainer's
(``lime_lens.train.checkpoint``), so each model folder loads with ``load_model`` and a run resumes
in either trainer. LIMe-kv and vanilla twins share a stack (vanilla = the identity route, fixed).

The models share the batches: every TrainConfig field that decides them (batch size, data seed,
steps...) must agree; per model are only :data:`PER_MODEL_FIELDS`. ``packing`` trains on packed
rows (``lime_lens.train.packing``): same examples per step, same loss.

Threads: this module never sets them (library code leaves global state to its caller). The entry
points that train stacks (``benchmarks/bench_small_models.py``, ``python -m
lime_lens.arithmetic.scale_run``) take ``--threads`` and call ``torch.set_num_threads`` once,
defaulting to the CPUs the process may run on (``os.sched_getaffinity``): torch's own default
counts the machine's cores, which oversubscribes a container or a shared machine, and an explicit
count is recorded with the numbers it produced.

``StackOptions.compile`` wraps the stacked loss in ``torch.compile`` (inductor fuses the
element-wise chains: norms, rotary, gated MLP); it is off by default because its gain on CPU is not
established (issue 25 report; ``bench_small_models.py --compile`` measures it) and compiling
costs minutes. ``StackOptions.cuda_graphs`` (CUDA only, fixed shapes: padded rows or
``Packing.n_rows``) compiles with ``mode="reduce-overhead"``; it is guarded on CPU and no test
runs it on a GPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformer_lens import HookedTransformer

from lime_lens.train.config import TrainConfig
from lime_lens.train.data import BatchOrder, Rows, n_rows
from lime_lens.train.model_stack import rope_tables, stack_params, stack_shape, write_back
from lime_lens.train.multi_checkpoint import load_stack_checkpoints, save_stack_checkpoints
from lime_lens.train.packing import DocBuckets, doc_buckets, example_lengths, pack_batch
from lime_lens.train.stacked_adamw import StackedAdamW, build_optimizer, scheduled_rates
from lime_lens.train.stacked_model import Params, StackShape, stacked_loss
from lime_lens.train.trainer import TrainResult, use_bf16

PER_MODEL_FIELDS = (
    "lr",
    "router_lr",
    "weight_decay",
    "warmup_steps",
    "min_lr",
    "schedule",
    "grad_clip",
    "checkpoint_dir",
)
"""TrainConfig fields that may differ between the models of one stack."""


@dataclass(frozen=True)
class Packing:
    """Pack each batch's examples into rows (``lime_lens.train.packing.pack_batch``)."""

    row_len: int
    """Tokens per packed row (>= the longest example)."""
    pad_id: int = 0
    """The padding token of the right-padded input rows."""
    n_rows: int | None = None
    """Fixed rows per step (fixed shapes for compile / CUDA graphs); None: as many as needed."""


@dataclass(frozen=True)
class StackOptions:
    """How the stack's step runs."""

    packing: Packing | None = None
    compile: bool = False
    """``torch.compile`` the loss (forward and backward)."""
    cuda_graphs: bool = False
    """CUDA only: compile with ``mode="reduce-overhead"`` (CUDA graphs), needs fixed shapes."""


def check_configs(cfgs: Sequence[TrainConfig]) -> None:
    """Raise a ValueError naming the first shared field on which the configs differ."""
    first = cfgs[0].to_dict()
    for i, cfg in enumerate(cfgs):
        for name, value in cfg.to_dict().items():
            if name not in PER_MODEL_FIELDS and value != first[name]:
                raise ValueError(
                    f"cfgs[{i}].{name} = {value!r} differs from cfgs[0].{name} = {first[name]!r}: "
                    f"models of one stack share their batches (per model: {PER_MODEL_FIELDS})"
                )


def _batch_data(train_data: Rows) -> dict[str, torch.Tensor]:
    """``tokens`` and ``loss_mask`` rows: the step task's ``answer_mask``, else every next token."""
    if isinstance(train_data, torch.Tensor):
        mask = torch.ones_like(train_data, dtype=torch.bool)
        mask[:, 0] = False
        return {"tokens": train_data, "loss_mask": mask}
    return {"tokens": train_data["tokens"], "loss_mask": train_data["answer_mask"]}


def _loss_fn(options: StackOptions, device: torch.device):
    if options.cuda_graphs and device.type != "cuda":
        raise ValueError("StackOptions.cuda_graphs needs a CUDA device (CUDA graphs)")
    if options.cuda_graphs and options.packing is not None and options.packing.n_rows is None:
        raise ValueError("StackOptions.cuda_graphs needs fixed shapes: set Packing.n_rows")
    if options.cuda_graphs:
        return torch.compile(stacked_loss, mode="reduce-overhead")
    return torch.compile(stacked_loss, dynamic=True) if options.compile else stacked_loss


@dataclass(frozen=True)
class _Stack:
    """What every step of one ``train_models`` call uses: the stacked weights and their update."""

    cfgs: Sequence[TrainConfig]
    params: Params
    opt: StackedAdamW
    rope: tuple[torch.Tensor, torch.Tensor] | None
    shape: StackShape
    loss_fn: Callable[..., torch.Tensor]
    device: torch.device


def _step_batch(
    data: dict[str, torch.Tensor],
    lengths: torch.Tensor | None,
    index: torch.Tensor,
    packing: Packing | None,
) -> tuple[dict[str, torch.Tensor], DocBuckets | None]:
    """The step's rows of ``data`` (packed under ``packing``) and the packed rows' buckets."""
    batch = {name: t[index] for name, t in data.items()}
    if packing is None or lengths is None:
        return batch, None
    batch = pack_batch(batch, lengths[index], packing.row_len, packing.n_rows)
    return batch, doc_buckets(batch["doc_ids"])


def _optimizer_step(
    stack: _Stack,
    batch: dict[str, torch.Tensor],
    buckets: DocBuckets | None,
    step: int,
) -> list[float]:
    """One forward, backward and AdamW update of every model; each model's loss."""
    bf16 = use_bf16(stack.cfgs[0], stack.device)
    with torch.autocast(stack.device.type, dtype=torch.bfloat16, enabled=bf16):
        losses = stack.loss_fn(stack.params, batch, stack.rope, stack.shape, buckets)
    losses.sum().backward()
    stack.opt.clip_and_mask()
    stack.opt.step(scheduled_rates(stack.cfgs, step, stack.device))
    stack.opt.zero_grad()
    return losses.detach().float().cpu().tolist()


def train_models(
    models: Sequence[HookedTransformer],
    cfgs: Sequence[TrainConfig],
    train_data: Rows,
    options: StackOptions | None = None,
    resume: bool = False,
) -> list[TrainResult]:
    """Train ``models`` in place, model i under ``cfgs[i]``; one TrainResult per model.

    ``resume``: continue from the newest checkpoint under each ``cfgs[i].checkpoint_dir`` (all at
    one step, saved with the same configs: a changed field raises, naming it, before any write).
    """
    options = options or StackOptions()
    if len(cfgs) != len(models):
        raise ValueError(f"{len(models)} models but {len(cfgs)} TrainConfigs")
    check_configs(cfgs)
    shape = stack_shape(models)
    cfg, device = cfgs[0], next(models[0].parameters()).device
    loss_fn = _loss_fn(options, device)
    state: dict[str, Any] = {"step": 0, "samples_seen": 0, "train_losses": [[] for _ in models]}
    if resume:
        state = load_stack_checkpoints(models, cfgs)
    params, route_trainable = stack_params(models)
    opt = build_optimizer(params, route_trainable, cfgs)
    if resume:
        state["optimizer"](opt)
    stack = _Stack(cfgs, params, opt, rope_tables(models), shape, loss_fn, device)
    data: dict[str, torch.Tensor] = {k: v.to(device) for k, v in _batch_data(train_data).items()}
    lengths = example_lengths(data["tokens"], options.packing.pad_id) if options.packing else None
    order, start = BatchOrder(n_rows(data), cfg.seed), state["step"]
    train_time, t0 = 0.0, time.perf_counter()
    for step in range(start, cfg.last_step):
        t_step = time.perf_counter()
        index = order.indices(state["samples_seen"], cfg.batch_size).to(device)
        batch, buckets = _step_batch(data, lengths, index, options.packing)
        for i, value in enumerate(_optimizer_step(stack, batch, buckets, step)):
            state["train_losses"][i].append(value)
        train_time += time.perf_counter() - t_step
        state["samples_seen"] += cfg.batch_size
        state["step"] = done = step + 1
        if cfg.checkpoint_dir and _due(done, cfg.checkpoint_interval, cfg.last_step):
            write_back(params, models)
            save_stack_checkpoints(models, cfgs, opt, state)
    write_back(params, models)
    row_len = int(data["tokens"].shape[1])
    timing = (cfg.last_step - start) * cfg.batch_size * row_len, train_time, t0
    return _results(state, len(models), row_len, timing, options.packing is not None)


def _results(
    state: dict[str, Any],
    n_models: int,
    row_len: int,
    timing: tuple[int, float, float],
    packed: bool,
) -> list[TrainResult]:
    """One TrainResult per model; ``timing``: (tokens trained here, seconds in steps, start time)."""
    n_tokens, train_time, t0 = timing
    return [
        TrainResult(
            train_losses=list(state["train_losses"][i]),
            val_history=[],
            samples_seen=state["samples_seen"],
            tokens_seen=state["samples_seen"] * row_len,
            wall_time_s=time.perf_counter() - t0,
            tokens_per_s=n_tokens / train_time if train_time > 0 else math.nan,
            checkpoint=None,
            extra={"stacked_models": n_models, "packed": packed},
        )
        for i in range(n_models)
    ]


def _due(done: int, interval: int, final: int) -> bool:
    return (interval > 0 and done % interval == 0) or done == final

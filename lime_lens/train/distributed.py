"""torch.distributed plumbing: process group from torchrun's environment, DDP / FSDP2 wrapping.

One code path for every scale: a plain run is world size 1 with no process group; under
``torchrun`` the same trainer initialises NCCL (CUDA) or gloo (CPU) and wraps the model.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import NoReturn

import torch
import torch.distributed as dist
from torch import nn

from lime_lens.tl.linear_layout import store_linear_weights_contiguous
from lime_lens.train.config import Parallel


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int
    """Global rank (0 when not distributed)."""
    world_size: int
    """Number of processes (1 when not distributed)."""
    device: torch.device
    """This process's device: ``cuda:<LOCAL_RANK>`` on GPUs, else the model's device."""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(default_device: torch.device) -> DistInfo:
    """Join the torchrun job if ``WORLD_SIZE`` > 1 (idempotent), else a single-process DistInfo."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DistInfo(0, 1, default_device)
    use_cuda = default_device.type == "cuda"
    if use_cuda:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), device)


def wrap_model(model: nn.Module, parallel: Parallel, info: DistInfo) -> nn.Module:
    """The module to call for training: ``model`` itself, DDP(model), or ``model`` FSDP2-sharded."""
    if not info.distributed:
        return model
    if parallel == "ddp":
        device_ids = [info.device.index] if info.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    from torch.distributed.fsdp import fully_shard

    store_linear_weights_contiguous(model)  # FSDP2 refuses non-contiguous parameters
    # Shard each transformer block, then the rest (embeddings, final norm, unembedding): the
    # usual FSDP2 layout, so only one block's parameters are gathered at a time.
    for block in getattr(model, "blocks", []):
        fully_shard(block)
    fully_shard(model)
    return model


def unwrap(model: nn.Module) -> nn.Module:
    """The user's model inside a DDP wrapper (FSDP2 shards in place, so nothing to unwrap)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def all_reduce_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of ``value`` over ranks (identity when not distributed)."""
    if info.distributed:
        value = value.detach().clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value /= info.world_size
    return value


def all_reduce_sum(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum of ``value`` over ranks (identity when not distributed)."""
    if info.distributed:
        value = value.detach().clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def shutdown_distributed() -> None:
    """Leave the torchrun job cleanly: a barrier, then destroy the default process group.

    The barrier keeps a rank that finished first from tearing down while a peer is still in a
    collective. A no-op outside a process group.
    """
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def exit_worker(code: int = 0) -> NoReturn:
    """End a torchrun worker process: ``shutdown_distributed()``, flush, then ``os._exit(code)``.

    Why not a normal exit: gloo's worker threads free a finished collective's tensors after the
    caller has its result, and freeing a tensor that Python has seen takes the GIL. A thread that
    asks for the GIL once interpreter finalization has begun is killed mid-destructor, and the
    process aborts with "terminate called without an active exception" (SIGABRT) although the
    run finished; torchrun then reports the job failed. Seen in core dumps of gloo FSDP runs
    (``ProcessGroupGloo::AsyncWork::~AsyncWork`` -> ``take_gil`` -> ``PyThread_exit_thread``);
    upstream: pytorch/pytorch#179291. Skipping finalization closes that window. Call it only as
    the last statement of a worker's program: ``atexit`` handlers do not run.
    """
    shutdown_distributed()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

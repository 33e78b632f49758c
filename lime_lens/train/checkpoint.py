"""Resumable checkpoints: safetensors for tensors, JSON for the rest, written atomically.

Layout of ``<checkpoint_dir>/step_XXXXXXXX/``:
    model/               ``lime_lens.serialization.save_model`` format (loads with ``load_model``)
    optimizer.safetensors  every optimizer state tensor, key ``state/<param name>/<name>``
    rng.safetensors      each rank's torch (and CUDA) RNG state, key ``torch/<rank>``
    trainer_state.json   step, samples seen, loss history, param groups, TrainConfig
Full (unsharded) state dicts via ``torch.distributed.checkpoint.state_dict``, so one format
serves single-process, DDP and FSDP runs, and a run may resume on a different world size.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from lime_lens.serialization import WEIGHTS_FILE, atomic_write_dir, save_model
from lime_lens.train.distributed import DistInfo, barrier, unwrap

STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.safetensors"
RNG_FILE = "rng.safetensors"
_STEP_DIR = re.compile(r"^step_(\d{8})$")
_RECIPE_FIELDS = (
    "max_steps",
    "batch_size",
    "lr",
    "router_lr",
    "warmup_steps",
    "min_lr",
    "seed",
    "weight_decay",
    "betas",
    "grad_clip",
    "precision",
)
_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def flatten_optimizer_state(
    osd: dict[str, Any],
) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """Split an FQN-keyed optimizer state dict into safetensors tensors and JSON param groups."""
    tensors = {}
    for name, per_param in osd["state"].items():
        for key, value in per_param.items():
            tensors[f"state/{name}/{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return tensors, [dict(group) for group in osd["param_groups"]]


def unflatten_optimizer_state(
    tensors: dict[str, torch.Tensor], groups: list[dict[str, Any]]
) -> dict[str, Any]:
    """Inverse of :func:`flatten_optimizer_state`."""
    state: dict[str, dict[str, torch.Tensor]] = {}
    for flat, tensor in tensors.items():
        _, name, key = flat.split("/")
        state.setdefault(name, {})[key] = tensor
    for group in groups:
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
    return {"state": state, "param_groups": groups}


def _rng_tensors(info: DistInfo) -> dict[str, torch.Tensor]:
    local = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and info.device.type == "cuda":
        local["cuda"] = torch.cuda.get_rng_state(info.device)
    gathered: list[Any] = [local]  # every rank's dict once gathered
    if info.distributed:
        gathered = [None] * info.world_size
        dist.all_gather_object(gathered, local)
    return {
        f"{kind}/{rank}": state
        for rank, states in enumerate(gathered)
        for kind, state in states.items()
    }


def full_model_view(model: nn.Module) -> SimpleNamespace:
    """What ``save_model`` needs (``.cfg``, ``.state_dict()``) for a plain, DDP or FSDP model.

    Collective: every rank must call it (FSDP gathers the shards); the full state is on CPU,
    on rank 0 only (other ranks get an empty state dict).
    """
    state = get_model_state_dict(model, options=_FULL)
    return SimpleNamespace(cfg=unwrap(model).cfg, state_dict=lambda: state)


def save_trained_model(
    model: nn.Module, path: str | Path, extra_json: dict[str, dict[str, Any]], info: DistInfo
) -> Path:
    """``save_model`` for a possibly wrapped/sharded model; rank 0 writes (collective call)."""
    view = full_model_view(model)
    if info.is_main:
        save_model(view, path, extra_json)  # type: ignore[arg-type]
    barrier(info)
    return Path(path)


def save_checkpoint(
    root: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    trainer_state: dict[str, Any],
    info: DistInfo,
    keep: int = 2,
) -> Path:
    """Write ``root/step_<trainer_state['step']>`` (collective: every rank must call)."""
    # Collectives first, on every rank; the full state dicts arrive on rank 0 only.
    view = full_model_view(model)
    optim_state = get_optimizer_state_dict(model, optimizer, options=_FULL)
    rng = _rng_tensors(info)
    path = Path(root) / f"step_{trainer_state['step']:08d}"
    if info.is_main:
        optim_tensors, groups = flatten_optimizer_state(optim_state)

        def write(tmp: Path) -> None:
            save_model(view, tmp / "model")  # type: ignore[arg-type]
            save_file(optim_tensors, str(tmp / OPTIMIZER_FILE))
            save_file({k: v.contiguous() for k, v in rng.items()}, str(tmp / RNG_FILE))
            (tmp / STATE_FILE).write_text(
                json.dumps({**trainer_state, "param_groups": groups}, indent=1)
            )

        atomic_write_dir(path, write)
        _prune(Path(root), keep)
    barrier(info)
    return path


def _prune(root: Path, keep: int) -> None:
    if keep > 0:
        for old in list_checkpoints(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)


def list_checkpoints(root: str | Path) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first (temporary folders are ignored)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and _STEP_DIR.match(p.name))


def resolve_checkpoint(path: str | Path) -> Path:
    """``path`` itself if it is a checkpoint, else the newest checkpoint under it."""
    path = Path(path)
    if (path / STATE_FILE).is_file():
        return path
    found = list_checkpoints(path)
    if not found:
        raise FileNotFoundError(
            f"{path}: neither a checkpoint nor a folder holding step_* checkpoints"
        )
    return found[-1]


def _warn_on_changed_recipe(path: Path, saved: dict[str, Any], current: dict[str, Any]) -> None:
    # Extending a run (a larger max_steps) is legitimate, but then the curve no longer
    # matches an uninterrupted run of either length: say so.
    changed = sorted(k for k in _RECIPE_FIELDS if k in saved and saved[k] != current.get(k))
    if changed:
        warnings.warn(
            f"{path}: resuming with a different {', '.join(changed)} than the checkpointed run; "
            "the loss curve will not match an uninterrupted run",
            stacklevel=3,
        )


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    info: DistInfo,
    current_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Restore model, optimizer and this rank's RNG from ``path``; return the trainer state.

    ``current_config`` (a ``TrainConfig.to_dict()``) is compared with the checkpointed one.
    """
    path = resolve_checkpoint(path)
    state = json.loads((path / STATE_FILE).read_text())
    if current_config is not None:
        _warn_on_changed_recipe(path, state.get("train_config", {}), current_config)
    model_state: dict[str, Any] = load_file(str(path / "model" / WEIGHTS_FILE))
    set_model_state_dict(
        model, model_state, options=StateDictOptions(full_state_dict=True, strict=True)
    )
    osd = unflatten_optimizer_state(
        load_file(str(path / OPTIMIZER_FILE)), state.pop("param_groups")
    )
    set_optimizer_state_dict(model, optimizer, osd, options=StateDictOptions(full_state_dict=True))
    rng = load_file(str(path / RNG_FILE))
    rank_key = (
        str(info.rank) if f"torch/{info.rank}" in rng else "0"
    )  # new world size: reuse rank 0's
    torch.set_rng_state(rng[f"torch/{rank_key}"])
    if f"cuda/{rank_key}" in rng and info.device.type == "cuda":
        torch.cuda.set_rng_state(rng[f"cuda/{rank_key}"], info.device)
    return state

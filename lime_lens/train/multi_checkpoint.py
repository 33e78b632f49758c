"""Checkpoints of a stack: one ordinary trainer checkpoint per model (``lime_lens.train.checkpoint``).

Each model's slice of the stacked AdamW becomes a ``torch.optim.AdamW`` state of that model alone,
so its ``<checkpoint_dir>/step_XXXXXXXX`` is exactly what ``lime_lens.train.train`` writes and
reads. Resuming checks every model's checkpoint before loading any: all at one step, and saved
under the same TrainConfig (a changed field raises, naming it; nothing is written).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from transformer_lens import HookedTransformer

from lime_lens.train.checkpoint import (
    STATE_FILE,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from lime_lens.train.config import TrainConfig
from lime_lens.train.distributed import DistInfo
from lime_lens.train.stacked_adamw import StackedAdamW, to_torch_state
from lime_lens.train.trainer import param_groups, set_learning_rates

RESUMABLE_CHANGES = ("stop_at_step", "progress", "log_interval")
"""TrainConfig fields a resumed run may change (where it stops, what it prints)."""


def _info(model: HookedTransformer) -> DistInfo:
    return DistInfo(0, 1, next(model.parameters()).device)


def _torch_adamw(model: HookedTransformer, cfg: TrainConfig) -> torch.optim.AdamW:
    betas = (float(cfg.betas[0]), float(cfg.betas[1]))
    return torch.optim.AdamW(param_groups(model, cfg), betas=betas, eps=cfg.eps)


def save_stack_checkpoints(
    models: Sequence[HookedTransformer],
    cfgs: Sequence[TrainConfig],
    opt: StackedAdamW,
    state: dict[str, Any],
) -> list[Path]:
    """Write ``cfgs[i].checkpoint_dir/step_<step>`` for every model (models already written back)."""
    paths = []
    for i, (model, cfg) in enumerate(zip(models, cfgs, strict=True)):
        single = _torch_adamw(model, cfg)
        for name, param in model.named_parameters():
            if param.requires_grad and opt.step_count:
                single.state[param] = to_torch_state(opt, i, name)
        set_learning_rates(single, state["step"] - 1, cfg)
        trainer_state = {
            "step": state["step"],
            "samples_seen": state["samples_seen"],
            "train_losses": list(state["train_losses"][i]),
            "val_history": [],
            "train_config": cfg.to_dict(),
        }
        assert cfg.checkpoint_dir is not None  # checked by the caller
        paths.append(
            save_checkpoint(
                cfg.checkpoint_dir, model, single, trainer_state, _info(model), cfg.keep_checkpoints
            )
        )
    return paths


def check_resumable(cfgs: Sequence[TrainConfig]) -> list[Path]:
    """The checkpoint of every model; raises (naming the field or folder) unless all resume alike."""
    paths, steps = [], set()
    for i, cfg in enumerate(cfgs):
        if cfg.checkpoint_dir is None:
            raise ValueError(f"cfgs[{i}].checkpoint_dir is None: nothing to resume from")
        path = resolve_checkpoint(cfg.checkpoint_dir)
        saved = json.loads((path / STATE_FILE).read_text())
        before, now = saved.get("train_config", {}), cfg.to_dict()
        for name, value in now.items():
            if name not in RESUMABLE_CHANGES and before.get(name) != value:
                raise ValueError(
                    f"{path}: TrainConfig.{name} was {before.get(name)!r}, now {value!r}; "
                    "resuming a stack needs the configuration it was saved with"
                )
        paths.append(path)
        steps.add(saved["step"])
    if len(steps) > 1:
        raise ValueError(f"the models' checkpoints are at different steps {sorted(steps)}")
    return paths


def load_stack_checkpoints(
    models: Sequence[HookedTransformer], cfgs: Sequence[TrainConfig]
) -> dict[str, Any]:
    """Load every model's newest checkpoint in place; return the stack's trainer state, whose
    ``"optimizer"`` fills a freshly built :class:`StackedAdamW` with the saved moments."""
    paths = check_resumable(cfgs)
    singles, states = [], []
    for model, cfg, path in zip(models, cfgs, paths, strict=True):
        single = _torch_adamw(model, cfg)
        states.append(load_checkpoint(path, model, single, _info(model)))
        singles.append(single)

    def fill(opt: StackedAdamW) -> None:
        opt.step_count = states[0]["step"]
        for i, (model, single) in enumerate(zip(models, singles, strict=True)):
            for name, param in model.named_parameters():
                saved = single.state.get(param)
                if saved:
                    opt.exp_avg[name][i] = saved["exp_avg"]
                    opt.exp_avg_sq[name][i] = saved["exp_avg_sq"]

    fill_fn: Callable[[StackedAdamW], None] = fill
    return {
        "step": states[0]["step"],
        "samples_seen": states[0]["samples_seen"],
        "train_losses": [list(s["train_losses"]) for s in states],
        "optimizer": fill_fn,
    }


def load_saved_model(path: str | Path, device: str | None = None) -> HookedTransformer:
    """A model folder of any stack member: LIMe (``config_class`` LIMeConfig) or vanilla (with
    the fused attention path, as ``build_model`` gives it)."""
    from lime_lens.model import HookedLIMeTransformer
    from lime_lens.serialization import CONFIG_FILE, load_model
    from lime_lens.tl.vanilla_attention import use_fused_attention

    config_class = json.loads((Path(path) / CONFIG_FILE).read_text()).get("config_class")
    if config_class == "LIMeConfig":
        return HookedLIMeTransformer.from_pretrained(path, device=device)
    return use_fused_attention(load_model(path, device=device))

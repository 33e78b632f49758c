"""Run by torchrun from test_train_distributed.py: train the tiny model, rank 0 writes the curve.

    ddp_worker.py OUT.json {ddp,fsdp} MAX_STEPS [CHECKPOINT_DIR]

With CHECKPOINT_DIR the run stops halfway (checkpoint), and a freshly built, differently
initialised model resumes from it in the same job; the curve written is the resumed one.
"""

from __future__ import annotations

import json
import os
import sys

import torch
from train_helpers import tiny_model, token_rows  # beside this script: on sys.path as its folder

from lime_lens.train import TrainConfig, train
from lime_lens.train.distributed import exit_worker

if __name__ == "__main__":
    out_file, parallel, max_steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    checkpoint_dir = sys.argv[4] if len(sys.argv) > 4 else None
    torch.set_num_threads(1)
    cfg = TrainConfig(
        max_steps=max_steps,
        batch_size=8,
        warmup_steps=2,
        eval_interval=max_steps,
        parallel=parallel,
        progress=False,
    )
    data, val = token_rows(64, seed=1), token_rows(24, seed=2)
    if checkpoint_dir is None:
        result = train(tiny_model(), cfg, data, val)
    else:
        half = TrainConfig(
            **{**cfg.to_dict(), "stop_at_step": max_steps // 2, "checkpoint_dir": checkpoint_dir}
        )
        train(tiny_model(), half, data, val)
        result = train(tiny_model(seed=7), cfg, data, val, resume_from=checkpoint_dir)
    if int(os.environ.get("RANK", "0")) == 0:
        curve = {
            "train_losses": result.train_losses,
            "val_loss": result.val_loss,
            "world_size": result.extra["world_size"],
        }
        with open(out_file, "w") as f:
            json.dump(curve, f)
    if torch.distributed.is_initialized():
        # A plain exit can abort after the run finished (gloo teardown race; see exit_worker).
        exit_worker(0)

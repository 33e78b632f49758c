"""Run by torchrun from test_distributed.py: train the tiny model, rank 0 writes the curve."""

from __future__ import annotations

import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from train_helpers import tiny_model, token_rows  # noqa: E402

from lime_lens.train import TrainConfig, train  # noqa: E402

if __name__ == "__main__":
    out_file, parallel, max_steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(1)
    cfg = TrainConfig(
        max_steps=max_steps,
        batch_size=8,
        warmup_steps=2,
        eval_interval=max_steps,
        parallel=parallel,
        progress=False,
    )
    result = train(tiny_model(), cfg, token_rows(64, seed=1), token_rows(24, seed=2))
    if int(os.environ.get("RANK", "0")) == 0:
        with open(out_file, "w") as f:
            json.dump(
                {
                    "train_losses": result.train_losses,
                    "val_loss": result.val_loss,
                    "world_size": result.extra["world_size"],
                },
                f,
            )
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()

"""Train LIMe models and vanilla baselines: one loop for one process, DDP and FSDP (torchrun).

``train(model, TrainConfig(...), train_rows, val_rows) -> TrainResult``; CLI: ``python -m lime_lens.train``.
"""

from lime_lens.train.config import TrainConfig
from lime_lens.train.trainer import TrainResult, lm_loss, train

__all__ = ["TrainConfig", "TrainResult", "lm_loss", "train"]

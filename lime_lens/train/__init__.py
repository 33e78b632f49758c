"""Train LIMe models and vanilla baselines: one loop for one process, DDP and FSDP (torchrun).

``train(model, TrainConfig(...), train_rows, val_rows) -> TrainResult``; models from
``build_model(arch, ModelShape(...), d_vocab)``; CLI: ``python -m lime_lens.train``.
"""

from lime_lens.train.architectures import ARCHES, ModelShape, build_model
from lime_lens.train.config import TrainConfig
from lime_lens.train.trainer import TrainResult, lm_loss, train

__all__ = ["ARCHES", "ModelShape", "TrainConfig", "TrainResult", "build_model", "lm_loss", "train"]

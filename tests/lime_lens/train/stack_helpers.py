"""Small builders for the packing and multi-model tests: step-task rows and tiny recipe models."""

from __future__ import annotations

import torch

from lime_lens.arithmetic.step_task import StepTask, make_step_splits
from lime_lens.arithmetic.step_vocab import encode_steps, step_vocab
from lime_lens.train import ModelShape, TrainConfig, build_model

SHAPE = ModelShape(
    n_layers=3, d_model=16, n_heads=4, n_key_value_heads=2, d_head=4, d_mlp=48, n_ctx=64
)
"""The recipe's style (LLaMA, gated MLP, rotary) with GQA, small enough for CPU tests."""


def step_rows(n_train: int = 48) -> dict[str, torch.Tensor]:
    """Right-padded step-task rows (tokens, answer_mask) of 3- and 4-operand expressions."""
    task = StepTask(n_operands=(3, 4), n_train=n_train, n_test=4, seed=0)
    examples = [ex for train, _ in make_step_splits(task).values() for ex in train]
    return encode_steps(examples, step_vocab())


def model(arch: str, seed: int, shape: ModelShape = SHAPE):
    return build_model(arch, shape, len(step_vocab()), seed=seed)


def perturb_routes(m, seed: int) -> None:
    """Move LIMe routes off their identity-heavy init, so routing is exercised."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in m.blocks[1:]:
            route = block.lime.route
            route.add_(0.2 * torch.randn(route.shape, generator=gen))


def recipe_config(**overrides) -> TrainConfig:
    """The step recipe's optimiser (App. A) at a few steps and a small batch."""
    base = dict(
        max_steps=4,
        batch_size=16,
        lr=1e-3,
        router_lr=1e-2,
        schedule="linear",
        warmup_steps=1,
        weight_decay=0.1,
        eval_interval=0,
        progress=False,
        seed=3,
    )
    return TrainConfig(**{**base, **overrides})

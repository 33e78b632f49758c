"""Train a vanilla or LIMe model on the mod-10 smoke task with the repo's trainer; accuracy per N.

A quick pipeline check, not the paper's task (that is ``step_experiment``). Default model: the
paper's arithmetic size (arXiv 2502.09245 v2, §5.3.2 / App. A): 4 layers, 4 heads,
d_model 32 (d_head 8, full multi-head attention, gated MLP of width 96 = 3 d_model as in
``lime_lens.train.architectures.ModelShape``), in the LLaMA style every trained model here uses.
One model is trained on the mixture of every N in the task and evaluated on each N's test set.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from lime_lens.arithmetic.metrics import answer_accuracy, answer_loss
from lime_lens.arithmetic.smoke_task import SmokeTask, make_smoke_splits
from lime_lens.arithmetic.vocab import CharVocab
from lime_lens.train import TrainConfig, train
from lime_lens.train.architectures import ModelShape, build_model, count_params

PAPER_SHAPE = ModelShape(
    n_layers=4, d_model=32, n_heads=4, n_key_value_heads=None, d_head=8, d_mlp=96, n_ctx=32
)
"""4 layers, 4 heads, d_model 32: the paper's arithmetic-expression models."""


@dataclass
class SmokeData:
    """Encoded rows: one training mixture over every N, one test set per N."""

    train: dict[str, torch.Tensor]
    """``tokens`` and ``answer_mask`` of every training example, all N mixed (row order as generated)."""
    test: dict[int, dict[str, torch.Tensor]]
    """N -> ``tokens`` and ``answer_mask`` of that N's test examples."""
    sizes: dict[int, tuple[int, int]] = field(default_factory=dict)
    """N -> (train examples, test examples)."""


def encode_smoke_task(task: SmokeTask, vocab: CharVocab | None = None) -> SmokeData:
    """Generate the task's splits and encode them at one common row length."""
    vocab = vocab or CharVocab()
    splits = make_smoke_splits(task)
    length = max(len(vocab.sequence(e, a)) for tr, te in splits.values() for e, a in tr + te)
    train_examples = [ex for tr, _ in splits.values() for ex in tr]
    return SmokeData(
        train=vocab.encode_examples(train_examples, length),
        test={n: vocab.encode_examples(te, length) for n, (_, te) in splits.items()},
        sizes={n: (len(tr), len(te)) for n, (tr, te) in splits.items()},
    )


@dataclass
class SmokeRun:
    """One trained model's result."""

    arch: str
    """``vanilla`` or a LIMe architecture name of ``lime_lens.train.architectures.ARCHES``."""
    seed: int
    """Model init and data-order seed."""
    n_params: int
    """Trainable parameters."""
    accuracy: dict[int, float]
    """N -> exact-match accuracy on N's test set."""
    train_accuracy: dict[int, float]
    """N -> exact-match accuracy on (up to 2,000 of) N's training examples: memorisation check."""
    final_train_loss: float
    """Mean answer loss of the last 50 steps."""
    tokens_per_s: float
    """Trainer throughput (padded tokens)."""
    wall_time_s: float
    """Wall time of training."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def train_smoke(
    arch: str,
    data: SmokeData,
    cfg: TrainConfig,
    shape: ModelShape = PAPER_SHAPE,
    vocab: CharVocab | None = None,
) -> SmokeRun:
    """Train ``arch`` (seed ``cfg.seed``) on ``data.train`` with the answer-only loss; score each N."""
    vocab = vocab or CharVocab()
    if data.train["tokens"].shape[1] > shape.n_ctx:
        raise ValueError(
            f"rows of {data.train['tokens'].shape[1]} tokens exceed ModelShape.n_ctx={shape.n_ctx}"
        )
    torch.manual_seed(cfg.seed)
    model = build_model(arch, shape, len(vocab), seed=cfg.seed)
    result = train(model, cfg, data.train, None, loss_fn=answer_loss)
    accuracy = {n: answer_accuracy(model, rows) for n, rows in data.test.items()}
    train_accuracy, start = {}, 0
    for n, (n_train, _) in data.sizes.items():  # data.train holds each N's block in this order
        rows = {k: v[start : start + min(n_train, 2000)] for k, v in data.train.items()}
        train_accuracy[n] = answer_accuracy(model, rows)
        start += n_train
    tail = result.train_losses[-50:]
    return SmokeRun(
        arch=arch,
        seed=cfg.seed,
        n_params=count_params(model),
        accuracy=accuracy,
        train_accuracy=train_accuracy,
        final_train_loss=sum(tail) / len(tail),
        tokens_per_s=result.tokens_per_s,
        wall_time_s=result.wall_time_s,
    )

"""The paper's recipe for the step-by-step arithmetic task (LIMe v2, §5.3.2 and App. A).

Model: 4 layers, 4 heads, d_model 32 (d_head 8, full multi-head attention, so the kv router mixes
4 KV heads per layer; gated MLP of width 3 d_model), LLaMA style as every model here. LIMe-kv adds
16 x (2 + 3 + 4) = 144 router weights to about 55,000, so it and the vanilla model have equal
parameters within 1% with no width matching. Optimiser (App. A, as in the LM recipe): AdamW lr
1e-3 with linear decay, router lr x10 with no weight decay, 200 epochs. The paper states no batch
size and no warmup: 128 rows per step and no warmup are our choices.
"""

from __future__ import annotations

from typing import Any

from lime_lens.train.architectures import ModelShape

STEP_SHAPE = ModelShape(
    n_layers=4, d_model=32, n_heads=4, n_key_value_heads=None, d_head=8, d_mlp=96, n_ctx=128
)
"""The paper's arithmetic model size; n_ctx 128 covers the longest 6-operand row (under 80)."""
STEP_TRAIN: dict[str, Any] = dict(
    lr=1e-3,
    router_lr=1e-2,
    schedule="linear",
    warmup_steps=0,
    min_lr=1e-6,
    weight_decay=0.1,
    batch_size=128,
    eval_interval=0,
)
"""``lime_lens.train.TrainConfig`` fields of the recipe (``max_steps`` follows from the epochs)."""
STEP_EPOCHS = 200
"""The paper's training length."""
STEP_ARCHES = ("lime-kv", "vanilla")
"""LIMe v2 (kv router) and its LLaMA-style baseline."""

"""The tiny LIMe recipe at ``n_layers = depth`` and the per-depth vanilla shapes (as in
``lime_depth.py``), for the paired runs."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

from transformer_lens import HookedTransformer

from experiments.lime_depth.pairs import LIME, MATCHED, PARAM_TOLERANCE
from lime_lens.analysis.routing import routing_heatmaps_for
from lime_lens.assets.tokenizer import load_tokenizer
from lime_lens.train.architectures import ModelShape, build_model, count_params
from lime_lens.train.baseline import equal_size_baseline_shape
from lime_lens.train.config import TrainConfig
from lime_lens.train.tiny_recipe import MATCHED_ARCHES, TINY_CONTEXT_SIZE, TINY_SHAPE, TINY_TRAIN


def depth_shape(arch: str, depth: int) -> dict[str, Any]:
    """TINY_SHAPE at ``depth`` layers; the two vanillas' d_mlp matched as ``lime_depth.py`` does."""
    shape = {**TINY_SHAPE, "n_layers": depth}
    if arch == MATCHED:
        return equal_size_baseline_shape(shape, len(load_tokenizer()), ("lime-kv",))
    if arch == "vanilla":
        return equal_size_baseline_shape(shape, len(load_tokenizer()), MATCHED_ARCHES)
    return shape


@cache
def n_params(arch: str, depth: int) -> int:
    model_arch = "vanilla" if arch == MATCHED else arch
    shape = ModelShape(**depth_shape(arch, depth))
    return count_params(build_model(model_arch, shape, len(load_tokenizer())))


def heatmap_rows(model: HookedTransformer) -> list[list[float | None]]:
    """The per-layer routing heatmap M[l, j] as JSON rows (None where j > l)."""
    per_layer = routing_heatmaps_for(model).per_layer
    return [[None if math.isnan(v) else v for v in row] for row in per_layer.tolist()]


def matched_baseline(depth: int) -> str:
    """``vanilla`` (the reproduction's d_mlp rule) where it is within 1% of LIMe-kv, else
    ``vanilla-matched-kv``: the pre-registered baseline at ``depth``."""
    gap = abs(n_params("vanilla", depth) / n_params(LIME, depth) - 1)
    return "vanilla" if gap <= PARAM_TOLERANCE else MATCHED


def recipe_matches(run: dict[str, Any], shape: dict[str, Any], seed: int) -> bool:
    """Whether a stored run has exactly this shape and the tiny recipe's trainer at ``seed``."""
    recipe: dict[str, Any] = dict(TINY_TRAIN)
    config = TrainConfig(**recipe, seed=seed, progress=False).to_dict()
    # a field added to TrainConfig after the run (e.g. ``schedule``) ran at its default then
    stored = {**TrainConfig().to_dict(), **run["train_config"]}
    return (
        run["model_shape"] == shape
        and stored == config
        and run["context_size"] == TINY_CONTEXT_SIZE
        and run["tokenizer"] == "bpe4096"
    )

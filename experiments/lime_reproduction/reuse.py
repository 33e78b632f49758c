"""Runs of the reproduction that later studies (ablation, depth) reuse when their recipe is
identical field by field, instead of training the same model twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from experiments.common import repo_path
from lime_lens.assets.tokenizer import load_tokenizer
from lime_lens.train import TrainConfig
from lime_lens.train.tiny_recipe import TINY_CONTEXT_SIZE, TINY_SHAPE, matched_baseline_shape

REPRODUCTION = Path(__file__).resolve().parent / "lime_reproduction.json"
"""The reproduction's raw runs (``python -m experiments.lime_reproduction.run``)."""


def stored_runs() -> list[dict[str, Any]]:
    """The reproduction's runs, or none when its JSON is absent."""
    return json.loads(REPRODUCTION.read_text())["runs"] if REPRODUCTION.is_file() else []


def expected_shape(arch: str) -> dict[str, Any]:
    """The recipe's model shape of ``arch`` (the vanilla d_mlp matched as in the reproduction)."""
    return matched_baseline_shape(len(load_tokenizer())) if arch == "vanilla" else TINY_SHAPE


def reusable_run(
    arch: str, seed: int, stored: list[dict[str, Any]], train_overrides: dict[str, Any]
) -> dict[str, Any] | None:
    """The stored run of ``arch`` / ``seed`` when its recipe (shape, trainer config from
    ``train_overrides``, context, tokenizer) equals the caller's exactly."""
    recipe = TrainConfig(**train_overrides, seed=seed, progress=False).to_dict()
    for run in stored:
        same = (
            run.get("task") == "lm"
            and run["arch"] == arch
            and run["seed"] == seed
            and run["model_shape"] == expected_shape(arch)
            and run["train_config"] == recipe
            and run["context_size"] == TINY_CONTEXT_SIZE
            and run["tokenizer"] == "bpe4096"
        )
        if same:
            return {**run, "source": f"{repo_path(REPRODUCTION)} (identical recipe and seed)"}
    return None

"""The equal-size vanilla baseline: LIMe is compared with a LLaMA-style model of the same
parameter count (Gerasimov et al., arXiv 2502.09245), so the baseline's MLP is widened by what
the LIMe routers add."""

from __future__ import annotations

from typing import Any

from lime_lens.train.architectures import ModelShape, build_model, count_params


def equal_size_baseline_shape(
    shape: dict[str, Any], d_vocab: int, lime_arches: tuple[str, ...]
) -> dict[str, Any]:
    """``shape`` (ModelShape fields) with the vanilla ``d_mlp`` that minimises the worst relative
    parameter gap to every model in ``lime_arches`` (the router parameters are the only difference)."""

    def n_params(arch: str, d_mlp: int) -> int:
        return count_params(build_model(arch, ModelShape(**{**shape, "d_mlp": d_mlp}), d_vocab))

    targets = [n_params(arch, shape["d_mlp"]) for arch in lime_arches]
    base = n_params("vanilla", shape["d_mlp"])
    per_unit = n_params("vanilla", shape["d_mlp"] + 1) - base  # parameters are linear in d_mlp

    def worst_gap(d_mlp: int) -> float:
        count = base + per_unit * (d_mlp - shape["d_mlp"])
        return max(abs(count - t) / t for t in targets)

    best = min(range(shape["d_mlp"], shape["d_mlp"] + 64), key=worst_gap)
    return {**shape, "d_mlp": best}

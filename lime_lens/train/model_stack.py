"""From N HookedTransformers to one stack of parameters (``lime_lens.train.stacked_model``) and back.

The stack holds copies: training updates the stack, and :func:`write_back` copies each model's
slice into its own HookedTransformer, which then saves, loads, hooks and generates (KV cache,
fused attention) as any model does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformer_lens import HookedTransformer

from lime_lens.train.stacked_model import Params, StackShape, identity_route, route_name

SHAPE_FIELDS = (
    "n_layers",
    "d_model",
    "n_heads",
    "n_key_value_heads",
    "d_head",
    "d_mlp",
    "d_vocab",
    "n_ctx",
    "eps",
    "positional_embedding_type",
    "rotary_dim",
    "rotary_base",
    "dtype",
)
"""Config fields every model of a stack must share."""
REQUIRED: dict[str, tuple[Any, ...]] = {
    "normalization_type": ("RMS",),
    "act_fn": ("silu",),
    "gated_mlp": (True,),
    "attn_only": (False,),
    "use_qk_norm": (False,),
    "rotary_adjacent_pairs": (False,),
    "use_attn_scale": (True,),
    "use_dynamic_ntk_rope": (False,),
    "positional_embedding_type": ("rotary", "standard"),
}
"""What the stacked forward reproduces: the LLaMA-style models of ``build_model``."""
LIME_REQUIRED = {"lime_mode": "kv", "lime_lookup": "static", "lime_sources": "full"}
"""The LIMe variant the stacked forward reproduces: the paper's v2 router (§4)."""


def _check_model(i: int, model: HookedTransformer) -> None:
    cfg = model.cfg
    for name, allowed in REQUIRED.items():
        if getattr(cfg, name, allowed[0]) not in allowed:
            raise ValueError(
                f"models[{i}].cfg.{name} = {getattr(cfg, name)!r}: the stacked trainer supports "
                f"{name} in {allowed}"
            )
    if cfg.positional_embedding_type == "rotary" and cfg.rotary_dim != cfg.d_head:
        raise ValueError(f"models[{i}].cfg.rotary_dim must equal d_head for the stacked trainer")
    if hasattr(cfg, "lime_mode"):
        for name, wanted in LIME_REQUIRED.items():
            if getattr(cfg, name) != wanted:
                raise ValueError(
                    f"models[{i}].cfg.{name} = {getattr(cfg, name)!r}: the stacked trainer "
                    f"supports LIMe models with {name} = {wanted!r}"
                )


def stack_shape(models: Sequence[HookedTransformer]) -> StackShape:
    """The shared shape; a model of another shape raises a ValueError naming the field."""
    if not models:
        raise ValueError("models is empty")
    first = models[0].cfg
    for i, model in enumerate(models):
        _check_model(i, model)
        for name in SHAPE_FIELDS:
            if getattr(model.cfg, name) != getattr(first, name):
                raise ValueError(
                    f"models[{i}].cfg.{name} = {getattr(model.cfg, name)!r} differs from "
                    f"models[0].cfg.{name} = {getattr(first, name)!r}: a stack needs one shape"
                )
    assert first.d_mlp is not None  # gated_mlp models have one (checked above)
    return StackShape(
        n_layers=first.n_layers,
        d_model=first.d_model,
        n_heads=first.n_heads,
        n_kv=first.n_key_value_heads or first.n_heads,
        d_head=first.d_head,
        d_mlp=first.d_mlp,
        d_vocab=first.d_vocab,
        eps=first.eps,
        rotary=first.positional_embedding_type == "rotary",
        gqa=first.n_key_value_heads is not None,
    )


def is_lime(model: HookedTransformer) -> bool:
    return hasattr(model.cfg, "lime_mode")


def stack_params(models: Sequence[HookedTransformer]) -> tuple[Params, torch.Tensor]:
    """(leaf tensors [N, ...] keyed by state-dict name, route_trainable [N]).

    Vanilla models get the frozen identity route (module docstring of ``stacked_model``).
    """
    shape = stack_shape(models)
    names = [n for n, p in models[0].named_parameters() if p.requires_grad]
    routes = [route_name(layer) for layer in range(1, shape.n_layers)]
    names += [n for n in routes if n not in names]
    params: Params = {}
    for name in names:
        slices = []
        for model in models:
            own = dict(model.named_parameters())
            if name in own:
                slices.append(own[name].detach())
            elif name in routes and not is_lime(model):
                layer = int(name.split(".")[1])
                slices.append(identity_route(shape.n_kv, layer, own["embed.W_E"]))
            else:
                raise ValueError(f"{type(model).__name__} has no parameter {name!r}")
        params[name] = torch.stack(slices).clone().requires_grad_(True)
    trainable = torch.tensor([is_lime(m) for m in models])
    return params, trainable


def rope_tables(models: Sequence[HookedTransformer]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(cos, sin) [n_ctx, d_head] of the rotary models (TransformerLens' own buffers), else None."""
    if models[0].cfg.positional_embedding_type != "rotary":
        return None
    attn = models[0].blocks[0].attn
    cos, sin = attn.rotary_cos.detach(), attn.rotary_sin.detach()
    for i, model in enumerate(models):
        for block in model.blocks:
            if not (
                torch.equal(block.attn.rotary_cos, cos) and torch.equal(block.attn.rotary_sin, sin)
            ):
                raise ValueError(f"models[{i}]: rotary tables differ across models or layers")
    return cos, sin


@torch.no_grad()
def write_back(params: Params, models: Sequence[HookedTransformer]) -> None:
    """Copy each model's slice of the stack into its own parameters (in place, same layout)."""
    for i, model in enumerate(models):
        for name, param in model.named_parameters():
            if name in params:
                param.copy_(params[name][i])

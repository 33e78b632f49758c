"""``run_with_cache(pos_slice=...)`` on LIMe hooks: each one sliced on its own position axis.

TransformerLens picks the axis to slice from the hook name's suffix (dim -3 for ``hook_q``/``k``/
``v``/``z``/``result``, else -2). That rule lands on a head or source axis for LIMe's per-token
hooks, which carry KV heads or sources after the position (``[batch, pos, n_kv, d]``,
``[batch, pos, n_src, d]``), and a static route has no position axis at all: one mixture per layer
serves every token (v2 §4, v1 §3). Here the router class says where its route's position axis is
(``route_dims``); every other LIMe hook is per token, ``[batch, pos, ...]``.

The same suffix rule also slices the head axis of TransformerLens' own ``attn.hook_rot_q`` /
``hook_rot_k`` ([batch, pos, n_heads, d_head]; an IndexError once the slice passes the head count,
vanilla models included). A LIMe model's rotary keys are its routed keys, so those two are sliced on
their position axis here too; every other vanilla hook keeps TransformerLens' rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import numpy as np
import torch
from transformer_lens.hook_points import HookPoint

from lime_lens.block import LIMeBlock
from lime_lens.config import LIMeConfig
from lime_lens.router_registry import router_class
from lime_lens.tl.internals import Slice

CachingHooks = list[tuple[str, Callable[..., Any]]]
PosSlice = (
    Slice
    | int
    | tuple[int]
    | tuple[int, int]
    | tuple[int, int, int]
    | list[int]
    | torch.Tensor
    | np.ndarray
    | None
)
"""What ``run_with_cache(pos_slice=...)`` accepts (TransformerLens' ``Slice`` or ``SliceInput``)."""

_BATCH_POS = 1
"""Position axis of every per-token LIMe hook, counted with the batch axis at 0."""


def position_axes(blocks: Iterable[LIMeBlock], cfg: LIMeConfig) -> dict[str, int | None]:
    """Hook name -> position axis (batch axis = 0) of every LIMe hook (and the rotary Q/K hooks);
    None when it has none.

    A hook spliced inside a LIMe hook (e.g. an SAE's ``hook_sae_acts_post`` under
    ``lime.hook_route``) keeps its host's leading axes, so it takes its host's axis.
    """
    router = router_class(cfg)
    route_dims: tuple[str, ...] = router.route_dims
    route_axis = route_dims.index("pos") if "pos" in route_dims else None
    roots: list[tuple[str, int | None]] = []  # paths under blocks.{l}, in override order
    if router.raw_kv_hooks:
        roots += [("attn.hook_k_raw", _BATCH_POS), ("attn.hook_v_raw", _BATCH_POS)]
    if cfg.positional_embedding_type == "rotary":
        roots += [("attn.hook_rot_q", _BATCH_POS), ("attn.hook_rot_k", _BATCH_POS)]
    roots += [("lime", _BATCH_POS), ("lime.hook_route", route_axis)]  # the route overrides
    axes: dict[str, int | None] = {}
    for layer, block in enumerate(blocks):
        for path, axis in roots:
            if path.startswith("lime") and block.lime is None:  # layer 0 has no router
                continue
            root = block.get_submodule(path)
            for name, module in root.named_modules(prefix=f"blocks.{layer}.{path}"):
                if isinstance(module, HookPoint):
                    axes[name] = axis
    return axes


def save_sliced(
    tensor: torch.Tensor,
    hook: HookPoint,
    *,
    cache: dict[str, torch.Tensor],
    axis: int | None,
    pos_slice: Slice,
    device: str | torch.device | None,
    remove_batch_dim: bool,
    is_backward: bool,
) -> None:
    """TransformerLens' caching hook, slicing ``axis`` (None: cache the whole tensor)."""
    if hook.name is None:
        raise ValueError("a caching hook ran on a HookPoint without a name (call model.setup())")
    cached = tensor.detach().to(device)
    if remove_batch_dim:
        cached, axis = cached[0], None if axis is None else axis - 1
    if axis is not None:
        cached = pos_slice.apply(cached, dim=axis)
    cache[hook.name + ("_grad" if is_backward else "")] = cached


def slice_lime_hooks(
    hooks: CachingHooks,
    axes: dict[str, int | None],
    is_backward: bool,
    **save_options: Any,
) -> CachingHooks:
    """``hooks`` with each LIMe entry's caching function replaced by :func:`save_sliced`."""
    return [
        (name, partial(save_sliced, axis=axes[name], is_backward=is_backward, **save_options))
        if name in axes
        else (name, fn)
        for name, fn in hooks
    ]

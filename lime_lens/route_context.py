"""The per-forward route context: what a LIMe block hands its attention, as an argument.

Layer l's K/V input mixes what layers 0..l left behind (paper v2 §4: their raw K/V; v1 §3: their
residual inputs). One forward pass collects those in a :class:`LIMeMemory`; each block builds a
:class:`KVRoute` from it and its router and passes it down as ``attn(..., route=route)``. The
attention calls it on its raw K/V between ``hook_k_raw``/``hook_v_raw`` and ``hook_k``/``hook_v``.
Nothing is set on a module for the length of a call, so two forwards never share a route.

The context holds no TransformerLens type: any attention that produces raw K/V as
[batch, pos, n_kv, d_head] can call it (mask and position handling stay with the attention).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from jaxtyping import Float

from lime_lens.routers.base import LIMeRouter
from lime_lens.routers.kv import to_heads_major

KV = tuple[
    Float[torch.Tensor, "batch pos n_kv d_head"], Float[torch.Tensor, "batch pos n_kv d_head"]
]


@dataclass
class LIMeMemory:
    """What earlier layers leave for later routes during one forward pass.

    Routing is position-wise, so only the current positions are ever needed: a decode step
    rebuilds this from the new token alone and the KV cache stays the vanilla size (v2 §4).
    """

    kv_buffers: list[torch.Tensor] = field(default_factory=list)
    """Routers with source "kv": hooked ``attn.hook_k_raw``/``hook_v_raw`` of layers 0..l, heads-major
    ([n_kv, 2 batch pos d_head], the rows of the paper's kv_buffer)."""
    sources: list[torch.Tensor] = field(default_factory=list)
    """Routers with source "residual": hooked ``hook_resid_pre`` of layers 0..l, each [batch, pos, d_model]."""


@dataclass(frozen=True, eq=False)  # identity semantics: memory is mutable
class KVRoute:
    """Layer l's K/V route for one forward pass (routers with source "kv").

    Calling it files the layer's raw K/V in ``memory`` (so later layers can read them), then
    returns the router's mixture of layers 0..l (v2 §4).
    """

    memory: LIMeMemory
    """The forward pass's memory, shared by every block of that pass."""
    router: LIMeRouter | None
    """``blocks.{l}.lime``; None at layer 0, which reads only its own heads (FirstLayerRouter)."""

    def __call__(
        self,
        k_raw: Float[torch.Tensor, "batch pos n_kv d_head"],
        v_raw: Float[torch.Tensor, "batch pos n_kv d_head"],
    ) -> KV:
        self.memory.kv_buffers.append(to_heads_major(k_raw, v_raw))
        if self.router is None:
            return k_raw, v_raw
        return self.router(self.memory.kv_buffers, batch=k_raw.shape[0], pos=k_raw.shape[1])

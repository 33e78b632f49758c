"""Paper v2 router: static, unconstrained mixing of the raw K/V heads of layers 0..l (§4, App. A)."""

from __future__ import annotations

import math

import torch
from jaxtyping import Float
from torch import nn
from transformer_lens.hook_points import HookPoint

from lime_lens.config import LIMeConfig


def route_kv_reference(
    route: Float[torch.Tensor, "batch n_kv n_src n_kv_src"],
    raws: list[Float[torch.Tensor, "batch pos n_kv_src d_head"]],
) -> Float[torch.Tensor, "batch pos n_kv d_head"]:
    """Definition (§4): X_h = sum_{l' <= l} sum_{h'} R^l[h, l', h'] * raw_{l', h'}."""
    return torch.einsum("bhsg,bpsgd->bphd", route, torch.stack(raws, dim=2))


def route_kv(
    route: Float[torch.Tensor, "batch n_kv n_src n_kv_src"],
    raws: list[Float[torch.Tensor, "batch pos n_kv_src d_head"]],
) -> Float[torch.Tensor, "batch pos n_kv d_head"]:
    """Same value as :func:`route_kv_reference`, without stacking the buffer.

    Summing per source keeps autograd from saving one concatenated (l+1)-layer buffer per layer
    (O(L^2) training memory); the raw K/V it saves are alive anyway.
    """
    if route.stride(0) == 0:  # the unpatched, batch-expanded parameter: no per-prompt matmuls
        weights, eq = route[0], "hg,bpgd->bphd"
    else:
        weights, eq = route, "bhg,bpgd->bphd"
    out = torch.einsum(eq, weights[..., 0, :], raws[0])
    for src in range(1, len(raws)):
        out = out + torch.einsum(eq, weights[..., src, :], raws[src])
    return out


class KVStaticRouter(nn.Module):
    """``blocks.{l}.lime`` in kv mode: R^l, shared by K and V, no softmax, no bias."""

    def __init__(self, cfg: LIMeConfig, layer: int):
        super().__init__()
        if layer < 1:
            raise ValueError("layer 0 has no router: its K/V are its own (FirstLayerRouter)")
        self.layer = layer
        n_kv = cfg.n_kv_heads
        self.route = nn.Parameter(torch.empty(n_kv, layer + 1, n_kv, dtype=cfg.dtype))
        self.hook_route = HookPoint()  # [batch, n_kv, n_src, n_kv]
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """App. A: identity on the current layer, U(+-sqrt(3 / ((l+1) R))) elsewhere."""
        n_kv, n_src, _ = self.route.shape
        bound = math.sqrt(3.0 / (n_src * n_kv))
        self.route.uniform_(-bound, bound)
        self.route[:, -1, :] = torch.eye(n_kv, dtype=self.route.dtype)

    def forward(
        self,
        k_raws: list[Float[torch.Tensor, "batch pos n_kv d_head"]],
        v_raws: list[Float[torch.Tensor, "batch pos n_kv d_head"]],
    ) -> tuple[Float[torch.Tensor, "batch pos n_kv d_head"], Float[torch.Tensor, "batch pos n_kv d_head"]]:
        batch = k_raws[0].shape[0]
        # expand (no copy) gives the hook a batch dim so remove_batch_dim and per-prompt patches work
        route = self.hook_route(self.route.unsqueeze(0).expand(batch, -1, -1, -1))
        return route_kv(route, k_raws), route_kv(route, v_raws)

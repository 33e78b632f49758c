"""Paper v2 App. D (Table 7) "uniform average": a fixed kv route with no learned weights.

Each target KV head h reads the plain mean of head h's raw K/V over layers 0..l:
R^l[h, l', h'] = [h = h'] / (l + 1). (Averaging over source heads as well would give every head
the same K/V; the per-head reading keeps the heads apart, as the full router's init does.)
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from transformer_lens.hook_points import HookPoint

from lime_lens.routers.base import RouterConfig
from lime_lens.routers.kv import KVFullRouteRouter


def uniform_route(n_kv: int, layer: int, dtype: torch.dtype) -> torch.Tensor:
    """R^l[h, l', h'] = [h = h'] / (l + 1): [n_kv, l + 1, n_kv]."""
    eye = torch.eye(n_kv, dtype=dtype) / (layer + 1)
    return eye.unsqueeze(1).expand(n_kv, layer + 1, n_kv).clone()


class KVAverageRouter(KVFullRouteRouter):
    """``blocks.{l}.lime`` for lime_sources "average": no parameters, so nothing to train."""

    param_names = ()
    uniform: torch.Tensor

    def __init__(self, cfg: RouterConfig, layer: int):
        super().__init__(cfg, layer)
        # A non-persistent buffer: follows .to(device / dtype), stays out of the state dict.
        self.register_buffer(
            "uniform", uniform_route(cfg.n_kv_heads, layer, cfg.dtype), persistent=False
        )  # [n_kv, l + 1, n_kv]
        self.hook_route = HookPoint()  # [batch, n_kv, n_src, n_kv]

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """No parameters; refill the fixed route (a model built on the meta device, as
        transformers' ``from_pretrained`` builds one, leaves this buffer uninitialised)."""
        n_kv = self.uniform.shape[0]
        self.uniform.copy_(uniform_route(n_kv, self.layer, self.uniform.dtype))

    def full_route(self) -> Float[torch.Tensor, "n_kv n_src n_kv_src"]:
        return self.uniform

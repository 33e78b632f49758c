"""Paper v2 App. D (Table 7): kv routers restricted to a subset of the earlier layers' K/V.

Source l' of layer l is the buffer of layer l' (its raw K/V, computed from ln1 of the residual
entering layer l'). The paper's variants, in the reading implemented here:

- "last_j": layers max(0, l-j+1)..l, the j most recent buffers (layer l's own included);
- "first_j": layers 0..j-1 "plus the previous layer", i.e. layer l's own buffer, which is computed
  from the previous layer's output, the one source a vanilla layer reads (paper §1).

Every restricted router keeps layer l's own buffer, so its App. A initialisation (identity on the
current layer) is that of the full router. Unread entries are ABSENT: ``route`` holds only the
read source layers, [n_kv, n_read, n_kv], so they cost no parameters and get no gradient. The
route is scattered into the full R^l (zeros elsewhere) before ``hook_route``, so hooks, patches and
the analyses see the same [batch, n_kv, l + 1, n_kv] route as the full router.
"""

from __future__ import annotations

import math

import torch
from jaxtyping import Float
from torch import nn
from transformer_lens.hook_points import HookPoint

from lime_lens.config import LIMeConfig
from lime_lens.routers.base import LIMeRouter
from lime_lens.routers.kv import KV, from_heads_major, route_kv, route_kv_reference


def kv_source_layers(lime_sources: str, j: int, layer: int) -> tuple[int, ...]:
    """The source layers that layer ``layer`` reads under ``lime_sources`` (module doc), sorted."""
    if lime_sources == "full" or lime_sources == "average":
        return tuple(range(layer + 1))
    if lime_sources == "last_j":
        return tuple(range(max(0, layer - j + 1), layer + 1))
    if lime_sources == "first_j":
        return tuple(sorted(set(range(min(j, layer + 1))) | {layer}))
    raise ValueError(
        f"lime_sources must be 'full', 'average', 'last_j' or 'first_j', got {lime_sources!r}"
    )


class KVFullRouteRouter(LIMeRouter):
    """A kv router defined by a full R^l [n_kv, l + 1, n_kv] that subclasses build in :meth:`full_route`.

    Everything else (hooks, mixing, folding the routed value biases) is the full router's (§4).
    """

    source = "kv"
    raw_kv_hooks = True
    route_dims = ("batch", "n_kv", "n_src", "n_kv_src")
    value_bias_fold = "routed"
    refactor_exact = False  # layer l's W_K / W_V also feed later layers' queries and W_O
    official_v2_layout = False  # the official checkpoints hold a full, unrestricted R^l
    hook_route: HookPoint  # [batch, n_kv, n_src, n_kv], set by the subclass after its parameters

    def full_route(self) -> Float[torch.Tensor, "n_kv n_src n_kv_src"]:
        """R^l with every source layer 0..l (unread ones 0)."""
        raise NotImplementedError

    def route_constants(
        self, per_layer: list[Float[torch.Tensor, "n_kv_src d"]]
    ) -> Float[torch.Tensor, "n_kv d"]:
        """sum_{l', h'} R^l[h, l', h'] c_{l', h'} with the full R^l (unread entries 0)."""
        return torch.einsum("hsg,sgd->hd", self.full_route(), torch.stack(per_layer))

    def forward(self, buffers: list[Float[torch.Tensor, "n_kv N"]], batch: int, pos: int) -> KV:
        """Mixed K/V of this layer from the heads-major raw K/V of layers 0..l."""
        route = self.hook_route(self.expand_batch(self.full_route(), batch))
        if route.stride(0) == 0:  # unpatched: one route for the whole batch
            return from_heads_major(route_kv(route[0], buffers), batch, pos)
        raws = [from_heads_major(buffer, batch, pos) for buffer in buffers]
        return route_kv_reference(route, [k for k, _ in raws]), route_kv_reference(
            route, [v for _, v in raws]
        )


class KVSourceRouter(KVFullRouteRouter):
    """``blocks.{l}.lime`` for lime_sources "last_j" / "first_j": R^l learned on the read layers only."""

    param_names = ("route",)

    def __init__(self, cfg: LIMeConfig, layer: int):
        super().__init__(cfg, layer)
        self.source_layers = kv_source_layers(cfg.lime_sources, cfg.lime_sources_j, layer)
        n_kv = cfg.n_kv_heads
        self.route = nn.Parameter(
            torch.empty(n_kv, len(self.source_layers), n_kv, dtype=cfg.dtype)
        )  # [n_kv, n_read, n_kv]
        self.hook_route = HookPoint()  # [batch, n_kv, n_src, n_kv] (unread sources 0)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """App. A over the read sources: identity on the current layer (the last one read),
        U(+-sqrt(3 / (n_read R))) elsewhere."""
        n_kv, n_read, _ = self.route.shape
        bound = math.sqrt(3.0 / (n_read * n_kv))
        self.route.uniform_(-bound, bound)
        self.route[:, -1, :] = torch.eye(n_kv, dtype=self.route.dtype)

    def full_route(self) -> Float[torch.Tensor, "n_kv n_src n_kv_src"]:
        n_kv = self.route.shape[0]
        full = self.route.new_zeros(n_kv, self.layer + 1, n_kv)
        index = torch.tensor(self.source_layers, device=self.route.device)
        return full.index_copy(1, index, self.route)

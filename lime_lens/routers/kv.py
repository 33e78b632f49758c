"""Paper v2 router: static, unconstrained mixing of the raw K/V heads of layers 0..l (§4, App. A)."""

from __future__ import annotations

import math

import torch
from jaxtyping import Float
from torch import nn
from transformer_lens.hook_points import HookPoint

from lime_lens.routers.base import LIMeRouter, RouterConfig

KV = tuple[
    Float[torch.Tensor, "batch pos n_kv d_head"], Float[torch.Tensor, "batch pos n_kv d_head"]
]


def to_heads_major(
    k_raw: torch.Tensor, v_raw: torch.Tensor
) -> Float[torch.Tensor, "n_kv kv_batch_pos_d"]:
    """One layer's raw K and V as the rows of the paper's kv_buffer: [n_kv, (2 batch pos d_head)]."""
    return torch.stack([k_raw, v_raw]).permute(3, 0, 1, 2, 4).reshape(k_raw.shape[2], -1)


def from_heads_major(buffer: torch.Tensor, batch: int, pos: int) -> KV:
    """Inverse of :func:`to_heads_major`, as views: K and V as [batch, pos, n_kv, d_head]."""
    kv = buffer.view(buffer.shape[0], 2, batch, pos, -1).permute(1, 2, 3, 0, 4)
    return kv[0], kv[1]


def route_kv_reference(
    route: Float[torch.Tensor, "batch n_kv n_src n_kv_src"],
    raws: list[Float[torch.Tensor, "batch pos n_kv_src d_head"]],
) -> Float[torch.Tensor, "batch pos n_kv d_head"]:
    """Definition (§4): X_h = sum_{l' <= l} sum_{h'} R^l[h, l', h'] * raw_{l', h'}."""
    return torch.einsum("bhsg,bpsgd->bphd", route, torch.stack(raws, dim=2))


CAT_MAX_COLUMNS = 4096  # batch*pos*d_head columns up to which route_kv concatenates without grad


def route_kv(
    route: Float[torch.Tensor, "n_kv n_src n_kv_src"],
    buffers: list[Float[torch.Tensor, "n_kv_src N"]],
) -> Float[torch.Tensor, "n_kv N"]:
    """:func:`route_kv_reference` for one route shared by the batch, on heads-major buffers.

    Under autograd: one small GEMM per source layer, accumulated in place, so no (l+1)-layer
    buffer is concatenated and saved for backward (the official code's ``torch.cat`` makes training
    memory O(L^2)). Without autograd (generation, analysis) the concatenation is transient, and one
    GEMM beats l+1 tiny ones when per-op overhead dominates (a decode step).
    """
    # One GEMM on the concatenated buffer wins only while the copy is cheap (a decode step, small
    # batches); for a long prompt without grad the copy of every earlier layer costs more than l+1
    # GEMMs (measured on CPU: 30 ms vs 3.6 ms at 8 layers, 2,048 tokens).
    if len(buffers) == 1 or (
        not torch.is_grad_enabled() and buffers[0].shape[1] <= CAT_MAX_COLUMNS
    ):
        return route.reshape(route.shape[0], -1) @ torch.cat(buffers)
    # In-place addmm_ is not autocast: under bf16 autocast the K/V buffers are bf16 while the
    # route parameter stays fp32, so cast it as autocast casts the first GEMM's operands.
    route = route.to(buffers[0].dtype)
    out = route[:, 0] @ buffers[0]
    for src in range(1, len(buffers)):
        out.addmm_(route[:, src], buffers[src])
    return out


class KVFullRouteRouter(LIMeRouter):
    """A kv router defined by a full R^l [n_kv, l + 1, n_kv] (:meth:`full_route`), shared by K and
    V, no softmax, no bias (§4). Mixing, the hook and the routed value-bias fold live here."""

    source = "kv"
    raw_kv_hooks = True
    route_dims = ("batch", "n_kv", "n_src", "n_kv_src")
    value_bias_fold = "routed"
    refactor_exact = False  # layer l's W_K / W_V also feed later layers' queries and W_O
    hook_route: HookPoint  # [batch, n_kv, n_src, n_kv], set by the subclass after its parameters

    def full_route(self) -> Float[torch.Tensor, "n_kv n_src n_kv_src"]:
        """R^l over every source layer 0..l (entries a router does not read are 0)."""
        raise NotImplementedError

    def route_constants(
        self, per_layer: list[Float[torch.Tensor, "n_kv_src d"]]
    ) -> Float[torch.Tensor, "n_kv d"]:
        """The routed image of one constant per source head (e.g. b_V): sum_{l', h'} R^l[h, l', h'] c_{l', h'}."""
        return torch.einsum("hsg,sgd->hd", self.full_route(), torch.stack(per_layer))

    def forward(self, buffers: list[Float[torch.Tensor, "n_kv N"]], batch: int, pos: int) -> KV:
        """Mixed K/V of this layer from the heads-major raw K/V of layers 0..l."""
        route = self.hook_route(self.expand_batch(self.full_route(), batch))
        if route.shape[0] == 1 or route.stride(0) == 0:  # one route for the whole batch
            return from_heads_major(route_kv(route[0], buffers), batch, pos)
        raws = [from_heads_major(buffer, batch, pos) for buffer in buffers]
        route = route.to(buffers[0].dtype)  # a patched fp32 route on bf16 K/V (no autocast)
        return route_kv_reference(route, [k for k, _ in raws]), route_kv_reference(
            route, [v for _, v in raws]
        )


class KVStaticRouter(KVFullRouteRouter):
    """``blocks.{l}.lime`` in kv mode: R^l learned on every source layer (:meth:`read_layers`)."""

    param_names = ("route",)
    official_v2_layout = True

    def __init__(self, cfg: RouterConfig, layer: int):
        super().__init__(cfg, layer)
        self.source_layers = self.read_layers(cfg, layer)
        n_kv = cfg.n_kv_heads
        self.route = nn.Parameter(
            torch.empty(n_kv, len(self.source_layers), n_kv, dtype=cfg.dtype)
        )  # [n_kv, n_read, n_kv]
        self.hook_route = HookPoint()  # [batch, n_kv, n_src, n_kv]
        self.reset_parameters()

    @staticmethod
    def read_layers(cfg: RouterConfig, layer: int) -> tuple[int, ...]:
        """The source layers whose route entries are learned: all of 0..l."""
        return tuple(range(layer + 1))

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """App. A over the read sources: identity on the current layer (always read, and last),
        U(+-sqrt(3 / (n_read R))) elsewhere."""
        n_kv, n_read, _ = self.route.shape
        bound = math.sqrt(3.0 / (n_read * n_kv))
        self.route.uniform_(-bound, bound)
        self.route[:, -1, :] = torch.eye(n_kv, dtype=self.route.dtype)

    def full_route(self) -> Float[torch.Tensor, "n_kv n_src n_kv_src"]:
        return self.route

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

import torch
from jaxtyping import Float

from lime_lens.routers.base import RouterConfig
from lime_lens.routers.kv import KVStaticRouter


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


class KVSourceRouter(KVStaticRouter):
    """``blocks.{l}.lime`` for lime_sources "last_j" / "first_j": R^l learned on the read layers only."""

    official_v2_layout = False  # the official checkpoints hold a full, unrestricted R^l

    @staticmethod
    def read_layers(cfg: RouterConfig, layer: int) -> tuple[int, ...]:
        return kv_source_layers(cfg.lime_sources, cfg.lime_sources_j, layer)

    def full_route(self) -> Float[torch.Tensor, "n_kv n_src n_kv_src"]:
        n_kv = self.route.shape[0]
        full = self.route.new_zeros(n_kv, self.layer + 1, n_kv)
        index = torch.tensor(self.source_layers, device=self.route.device)
        return full.index_copy(1, index, self.route)

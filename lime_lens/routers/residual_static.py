"""Paper v1 static lookup: one learned softmax over the sources per layer and KV head."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import nn

from lime_lens.config import LIMeConfig
from lime_lens.routers.lookups import softmax_weights
from lime_lens.routers.residual import ResidualRouter


class ResidualStaticRouter(ResidualRouter):
    """w^l = softmax(theta^l), theta^l: [n_kv, n_src], shared by every token."""

    param_names = ("route",)

    def __init__(self, cfg: LIMeConfig, layer: int):
        super().__init__(cfg, layer)
        self.route = nn.Parameter(torch.empty(cfg.n_kv_heads, layer + 1, dtype=cfg.dtype))
        self.add_hooks()
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """v1 code: static logits ~ N(0, 0.1^2)."""
        self.route.normal_(0.0, 0.1)

    def weights(
        self, normed: Float[torch.Tensor, "batch pos n_src d_model"]
    ) -> Float[torch.Tensor, "batch n_kv n_src"]:
        return self.expand_batch(softmax_weights(self.route), normed.shape[0])

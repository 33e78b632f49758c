"""Paper v1 top-p lookup: the static softmax pruned to its top cumulative ``lime_top_p`` mass."""

from __future__ import annotations

import torch
from jaxtyping import Float

from lime_lens.config import LIMeConfig
from lime_lens.routers.lookups import top_p_weights
from lime_lens.routers.residual_static import ResidualStaticRouter


class ResidualTopPRouter(ResidualStaticRouter):
    """w^l = top_p(softmax(theta^l)), renormalised (v1 Table 5 uses p = 0.9); the static router's
    logits and initialisation, pruned."""

    def __init__(self, cfg: LIMeConfig, layer: int):
        super().__init__(cfg, layer)
        self.top_p = cfg.lime_top_p

    def weights(
        self, normed: Float[torch.Tensor, "batch pos n_src d_model"]
    ) -> Float[torch.Tensor, "batch n_kv n_src"]:
        return self.expand_batch(top_p_weights(self.route, self.top_p), normed.shape[0])

"""Paper v1 routers: per-head mixtures of the normalised residual states entering layers 0..l.

m_h = sum_j w_{h,j} norm(S_j), S_j = resid_pre of layer j (v1 §3); the attention projects m_h with
its own W_K^h / W_V^h. The lookups (static, dynamic, top-p) differ only in how w is produced:
each subclass implements :meth:`ResidualRouter.weights`.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from jaxtyping import Float
from torch import nn
from transformer_lens.hook_points import HookPoint

from lime_lens.config import LIMeConfig
from lime_lens.routers.base import LIMeRouter
from lime_lens.tl.internals import LayerNorm, LayerNormPre, RMSNorm, RMSNormPre


def lime_norm(cfg: LIMeConfig) -> nn.Module:
    """v1 ``input_layernorm_lime``: a separate norm of the model's kind, applied to every source."""
    norms = {"RMS": RMSNorm, "RMSPre": RMSNormPre, "LN": LayerNorm, "LNPre": LayerNormPre}
    return norms[cfg.normalization_type](cfg) if cfg.normalization_type else nn.Identity()


class ResidualRouter(LIMeRouter):
    """``blocks.{l}.lime`` in residual mode: the shared mixing; subclasses give the weights."""

    source = "residual"
    route_dims: ClassVar[tuple[str, ...]] = ("batch", "n_kv", "n_src")
    ln_fold = "lime_norm"
    hook_names = ("hook_route", "hook_kv_in")

    def __init__(self, cfg: LIMeConfig, layer: int):
        super().__init__(cfg, layer)
        self.ln = lime_norm(cfg)

    def add_hooks(self) -> None:
        """Register the hooks after the subclass' parameters (keeps the module order of v1)."""
        self.hook_route = (
            HookPoint()
        )  # static/top_p: [batch, n_kv, n_src]; dynamic: [batch, pos, n_kv, n_src]
        self.hook_kv_in = HookPoint()  # [batch, pos, n_kv, d_model]

    def weights(
        self, normed: Float[torch.Tensor, "batch pos n_src d_model"]
    ) -> Float[torch.Tensor, "batch ... n_kv n_src"]:
        """Mixture weights w over the sources: [batch, n_kv, n_src], or per token [batch, pos, n_kv, n_src]."""
        raise NotImplementedError

    def forward(
        self, sources: list[Float[torch.Tensor, "batch pos d_model"]]
    ) -> Float[torch.Tensor, "batch pos n_kv d_model"]:
        normed = self.ln(torch.stack(sources, dim=2))
        w = self.hook_route(self.weights(normed))
        eq = "bphs,bpsd->bphd" if w.ndim == 4 else "bhs,bpsd->bphd"
        return self.hook_kv_in(torch.einsum(eq, w, normed))

"""Paper v1 router: per-head mixtures of the normalised residual states entering layers 0..l."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import nn
from transformer_lens.components import LayerNorm, LayerNormPre, RMSNorm, RMSNormPre
from transformer_lens.hook_points import HookPoint

from lime_lens.config import LIMeConfig
from lime_lens.routers.lookups import softmax_weights, top_p_weights


def _lime_norm(cfg: LIMeConfig) -> nn.Module:
    # v1 `input_layernorm_lime`: a separate norm of the model's kind, applied to every source.
    norms = {"RMS": RMSNorm, "RMSPre": RMSNormPre, "LN": LayerNorm, "LNPre": LayerNormPre}
    return norms[cfg.normalization_type](cfg) if cfg.normalization_type else nn.Identity()


class ResidualRouter(nn.Module):
    """``blocks.{l}.lime`` in residual mode: m_h = sum_j w_{h,j} norm(S_j), S_j = resid_pre of layer j."""

    def __init__(self, cfg: LIMeConfig, layer: int):
        super().__init__()
        if layer < 1:
            raise ValueError("layer 0 has no router: its only source is its own input")
        self.layer, self.lookup, self.top_p = layer, cfg.lime_lookup, cfg.lime_top_p
        n_kv, n_src = cfg.n_kv_heads, layer + 1
        self.ln = _lime_norm(cfg)
        if self.lookup == "dynamic":
            # v1 Dynamic: Linear_{D -> H (l+1)} of the normalised current state, no bias.
            self.route_proj = nn.Linear(cfg.d_model, n_kv * n_src, bias=False, dtype=cfg.dtype)
        else:
            self.route = nn.Parameter(torch.empty(n_kv, n_src, dtype=cfg.dtype))
        self.hook_route = HookPoint()  # static/top_p: [batch, n_kv, n_src]; dynamic: [batch, pos, n_kv, n_src]
        self.hook_kv_in = HookPoint()  # [batch, pos, n_kv, d_model]
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """v1 code: static logits ~ N(0, 0.1^2); dynamic map keeps nn.Linear's default init."""
        if self.lookup == "dynamic":
            self.route_proj.reset_parameters()
        else:
            self.route.normal_(0.0, 0.1)

    def weights(
        self, normed: Float[torch.Tensor, "batch pos n_src d_model"]
    ) -> Float[torch.Tensor, "batch ... n_kv n_src"]:
        batch, pos, n_src, _ = normed.shape
        if self.lookup == "dynamic":
            logits = self.route_proj(normed[:, :, -1]).view(batch, pos, -1, n_src)
            return softmax_weights(logits)
        w = top_p_weights(self.route, self.top_p) if self.lookup == "top_p" else softmax_weights(self.route)
        return w.unsqueeze(0).expand(batch, -1, -1)

    def forward(
        self, sources: list[Float[torch.Tensor, "batch pos d_model"]]
    ) -> Float[torch.Tensor, "batch pos n_kv d_model"]:
        normed = self.ln(torch.stack(sources, dim=2))
        w = self.hook_route(self.weights(normed))
        eq = "bphs,bpsd->bphd" if w.ndim == 4 else "bhs,bpsd->bphd"
        return self.hook_kv_in(torch.einsum(eq, w, normed))

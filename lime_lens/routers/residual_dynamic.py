"""Paper v1 dynamic lookup: per-token weights from a linear map of the normalised own input."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import nn

from lime_lens.config import LIMeConfig
from lime_lens.routers.base import ProcessingStep, RouterConfig
from lime_lens.routers.lookups import softmax_weights
from lime_lens.routers.residual import ResidualRouter


class ResidualDynamicRouter(ResidualRouter):
    """w^l(x) = softmax(Linear_{D -> H (l+1)}(norm(x))), x = the layer's own input, no bias."""

    route_dims = ("batch", "pos", "n_kv", "n_src")
    per_token = True
    param_names = ("route_proj.weight",)

    def __init__(self, cfg: LIMeConfig, layer: int):
        super().__init__(cfg, layer)
        self.route_proj = nn.Linear(
            cfg.d_model, cfg.n_kv_heads * (layer + 1), bias=False, dtype=cfg.dtype
        )
        self.add_hooks()
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """v1 code: the map keeps nn.Linear's default init."""
        self.route_proj.reset_parameters()

    @classmethod
    def refusal(cls, cfg: RouterConfig, step: ProcessingStep) -> str | None:
        if step == "fold_ln" and cfg.normalization_type == "LN":
            return (
                "fold_ln=True is not supported for lime_mode='residual' with lime_lookup='dynamic' and "
                "LayerNorm: the LIMe norm's bias feeds the bias-free router map "
                "(blocks.{l}.lime.route_proj). Pass fold_ln=False."
            )
        return super().refusal(cfg, step)

    @classmethod
    def fold_norm_gain(
        cls, state: dict[str, torch.Tensor], prefix: str, gain: torch.Tensor
    ) -> None:
        """The map reads norm(x) = n(x) g: fold g into its columns (RMS only: LN is refused)."""
        state[prefix + "route_proj.weight"] = state[prefix + "route_proj.weight"] * gain[None, :]

    def weights(
        self, normed: Float[torch.Tensor, "batch pos n_src d_model"]
    ) -> Float[torch.Tensor, "batch pos n_kv n_src"]:
        batch, pos, n_src, _ = normed.shape
        logits = self.route_proj(normed[:, :, -1]).view(batch, pos, -1, n_src)
        return softmax_weights(logits)

"""OpenAI's Multi-TopK SAE (Gao et al. 2024, "Scaling and evaluating sparse autoencoders", §5.3).

The loss scores two budgets from ONE set of pre-activations: ``L = L(k) + L(4k) / 8``, where the
top-4k latents are re-selected from the same (decoder-norm rescaled) pre-activations. This is the
peer that HierarchicalTopK generalises: Multi-TopK scores 2 budgets, HierarchicalTopK every
prefix 1..K. It follows EleutherAI sparsify's ``multi_topk`` (``loss = fvu + multi_topk_fvu / 8``)
but keeps SAELens's loss convention (squared error summed over d_in, averaged over the batch), so
``aux_loss_coefficient`` means what it means for SAELens TopK.

Trained with ``architecture="multi_topk"``; saved as a plain SAELens ``"topk"`` SAE at budget k.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float
from sae_lens import TopKSAEConfig
from sae_lens.saes.sae import SAEConfig, TrainStepInput
from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig, act_times_W_dec
from typing_extensions import override

from saelens_hierarchical.registration import register_architecture

ARCHITECTURE = "multi_topk"

# Repeated de-normalisation of a second reconstruction breaks these run-time norms (they `del`
# their cached statistics), and SAELens's AuxK rejects them too.
_UNSUPPORTED_NORMS = ("layer_norm", "constant_norm_rescale")


@dataclass(kw_only=True)
class MultiTopKTrainingSAEConfig(TopKTrainingSAEConfig):
    """TopK training config plus the second, larger Multi-TopK budget (Gao et al. 2024, §5.3)."""

    multi_topk_factor: int = 4
    """The second budget is ``multi_topk_factor * k`` latents (4 in the paper and in sparsify)."""

    multi_topk_coefficient: float = 1 / 8
    """Weight of the large-budget reconstruction loss (1/8 in the paper and in sparsify)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.multi_topk_factor < 1:
            raise ValueError(f"multi_topk_factor must be >= 1, got {self.multi_topk_factor}")
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        if self.multi_topk_factor * self.k > self.d_sae:
            raise ValueError(
                f"multi_topk_factor * k = {self.multi_topk_factor * self.k} exceeds "
                f"d_sae = {self.d_sae}; lower k or multi_topk_factor"
            )
        if self.multi_topk_coefficient < 0:
            raise ValueError(
                f"multi_topk_coefficient must be >= 0, got {self.multi_topk_coefficient}"
            )
        if self.normalize_activations in _UNSUPPORTED_NORMS:
            raise ValueError(
                f"normalize_activations={self.normalize_activations!r} is not supported by "
                f"multi_topk; use 'none' or 'expected_average_only_in'"
            )

    @override
    @classmethod
    def architecture(cls) -> str:
        return ARCHITECTURE

    @override
    def get_inference_config_class(self) -> type[SAEConfig]:
        # Inference is plain TopK at k: the saved folder loads without this package.
        return TopKSAEConfig


class MultiTopKTrainingSAE(TopKTrainingSAE):
    """SAELens TopK training SAE whose loss adds ``multi_topk_coefficient * L(factor * k)``."""

    cfg: MultiTopKTrainingSAEConfig  # type: ignore[assignment]

    def large_budget_reconstruction(
        self, hidden_pre: Float[torch.Tensor, "batch d_sae"]
    ) -> Float[torch.Tensor, "batch d_in"]:
        """Decode the top ``factor * k`` of the (already rescaled) pre-activations."""
        vals, idx = hidden_pre.topk(self.cfg.multi_topk_factor * self.cfg.k, dim=-1)
        acts = torch.zeros_like(hidden_pre).scatter(-1, idx, vals.relu())
        recons = act_times_W_dec(acts, self.W_dec, self.cfg.rescale_acts_by_decoder_norm)
        return self.reshape_fn_out(recons + self.b_dec, self.d_head)

    @override
    def calculate_aux_loss(
        self,
        step_input: TrainStepInput,
        feature_acts: torch.Tensor,
        hidden_pre: torch.Tensor,
        sae_out: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        losses = super().calculate_aux_loss(step_input, feature_acts, hidden_pre, sae_out)
        recons = self.large_budget_reconstruction(hidden_pre)
        large_mse = (recons - step_input.sae_in).pow(2).sum(dim=-1).mean()
        # SAELens's trainer adds every entry of this dict to the total loss.
        losses["multi_topk_mse_loss"] = self.cfg.multi_topk_coefficient * large_mse
        return losses


def register() -> None:
    """Register ``"multi_topk"`` for training; a reload re-points the entry at the new classes."""
    register_architecture(ARCHITECTURE, MultiTopKTrainingSAE, MultiTopKTrainingSAEConfig)


register()

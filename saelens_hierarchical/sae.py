"""HierarchicalTopK training SAE: SAELens TopK whose loss covers every top-j prefix, j <= K.

Shapes: batch (B), k (K), d_in (D), d_sae (F). Encoding, AuxK, decoder-norm folding and
saving are SAELens's TopK; only the training step differs (Balagansky et al., 2025):

1. pre-activations as TopK (rescaled by ||W_dec|| rows when SAELens does so);
2. the same ``torch.topk(..., sorted=False)`` as SAELens's TopK module, then sorted by
   activation, descending: the prefix order of the paper (section 1, "Ordering");
3. the prefix loss (``loss_fused`` by default), which also returns the full top-K
   reconstruction, so SAELens's dense [B, F] @ W_dec decode is skipped;
4. SAELens's AuxK on the full-K residual, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from jaxtyping import Float, Int
from sae_lens.saes.sae import TrainStepInput, TrainStepOutput
from sae_lens.saes.topk_sae import TopKTrainingSAE
from typing_extensions import override

from saelens_hierarchical.config import HierarchicalTopKTrainingSAEConfig
from saelens_hierarchical.loss_fused import hierarchical_loss_fused, prefix_squared_errors
from saelens_hierarchical.loss_reference import PrefixLoss, hierarchical_loss_reference

LossFn = Callable[..., PrefixLoss]
LOSS_FNS: dict[str, LossFn] = {
    "reference": hierarchical_loss_reference,
    "fused": hierarchical_loss_fused,
}


def select_loss_fn(impl: str) -> LossFn:
    """The loss path for ``cfg.loss_impl``; ``"auto"`` is the fused walk."""
    return LOSS_FNS["fused" if impl == "auto" else impl]


class HierarchicalTopKTrainingSAE(TopKTrainingSAE):
    """TopK training SAE trained so that every activation-sorted prefix reconstructs."""

    cfg: HierarchicalTopKTrainingSAEConfig  # type: ignore[assignment]

    def __init__(self, cfg: HierarchicalTopKTrainingSAEConfig, use_error_term: bool = False):
        super().__init__(cfg, use_error_term)

    def hidden_pre(self, sae_in: Float[torch.Tensor, "batch d_in"]) -> Float[torch.Tensor, "batch d_sae"]:
        """TopK pre-activations, as ``TopKTrainingSAE.encode_with_hidden_pre`` computes them."""
        hidden_pre = self.hook_sae_acts_pre(self.process_sae_in(sae_in) @ self.W_enc + self.b_enc)
        if self.cfg.rescale_acts_by_decoder_norm:
            hidden_pre = hidden_pre * self.W_dec.norm(dim=-1)
        return hidden_pre

    def sorted_top_k(
        self, hidden_pre: Float[torch.Tensor, "batch d_sae"]
    ) -> tuple[Float[torch.Tensor, "batch k"], Int[torch.Tensor, "batch k"]]:
        """Top-K activations (ReLU'd) and their latents, sorted by activation, descending.

        Selection is SAELens's own call, so the set (ties included) equals stock TopK's.
        """
        values, indices = torch.topk(hidden_pre, k=self.cfg.k, dim=-1, sorted=False)
        values, order = values.relu().sort(dim=-1, descending=True, stable=True)
        return values, indices.gather(-1, order)

    def decoder_coefficients(
        self, acts: Float[torch.Tensor, "batch k"], indices: Int[torch.Tensor, "batch k"]
    ) -> Float[torch.Tensor, "batch k"]:
        """The multipliers of W_dec rows: ``act_times_W_dec`` divides by ||d_i|| when rescaling."""
        if not self.cfg.rescale_acts_by_decoder_norm:
            return acts
        return acts / self.W_dec.norm(dim=-1)[indices]

    def _feature_acts(self, acts: torch.Tensor, indices: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """The [batch, d_sae] activations stock TopK returns (dense, or COO when configured)."""
        if not self.cfg.use_sparse_activations:
            return torch.zeros_like(like).scatter_(-1, indices, acts)
        rows = torch.arange(like.shape[0], device=like.device).repeat_interleave(self.cfg.k)
        coords = torch.stack([rows, indices.flatten()])
        return torch.sparse_coo_tensor(coords, acts.flatten(), like.shape)

    @override
    def training_forward_pass(self, step_input: TrainStepInput) -> TrainStepOutput:
        _raise_if_not_finite(step_input.sae_in, "input activations (sae_in)")
        hidden_pre = self.hidden_pre(step_input.sae_in)
        acts, indices = self.sorted_top_k(hidden_pre)
        _raise_if_not_finite(acts, "top-k pre-activations (check the weights and inputs)")
        feature_acts = self.hook_sae_acts_post(self._feature_acts(acts, indices, hidden_pre))
        coefficients = self.decoder_coefficients(acts, indices)
        prefix = select_loss_fn(self.cfg.loss_impl)(
            step_input.sae_in, self.b_dec, coefficients, indices, self.W_dec, self.cfg.prefix_weights()
        )
        sae_out = self.run_time_activation_norm_fn_out(self.hook_sae_recons(prefix.sae_out))
        losses = {
            "hierarchical_mse_loss": prefix.loss,
            **self.calculate_aux_loss(step_input, feature_acts, hidden_pre, sae_out),
        }
        metrics = (
            self._budget_metrics(step_input.sae_in, coefficients, indices)
            if step_input.is_logging_step
            else {}
        )
        return TrainStepOutput(
            sae_in=step_input.sae_in,
            sae_out=sae_out,
            feature_acts=feature_acts,
            hidden_pre=hidden_pre,
            loss=sum(losses.values()),  # type: ignore[arg-type]
            losses=losses,
            metrics=metrics,  # type: ignore[arg-type]
        )

    def _budget_metrics(
        self, sae_in: torch.Tensor, coefficients: torch.Tensor, indices: torch.Tensor
    ) -> dict[str, Callable[[], float]]:
        """Lazy ``explained_variance_k{j}``: the trainer calls them on logging steps only."""
        args = (sae_in.detach(), self.b_dec.detach(), coefficients.detach(), indices, self.W_dec.detach())
        budgets = self.cfg.logged_budgets()
        cache: dict[int, float] = {}

        def explained_variance(j: int) -> float:
            if not cache:  # one walk to max(budgets) serves every budget
                x = args[0].double()
                total_variance = (x - x.mean(0)).pow(2).sum(-1).mean()
                errors = prefix_squared_errors(*args, budgets)
                cache.update({b: float(1 - e.mean() / total_variance) for b, e in errors.items()})
            return cache[j]

        return {f"explained_variance_k{j}": (lambda j=j: explained_variance(j)) for j in budgets}


def _raise_if_not_finite(tensor: torch.Tensor, what: str) -> None:
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(
            f"hierarchical_topk: NaN or inf in the {what}; the loss would be NaN. "
            "Check the activation source (e.g. fp16 overflow) or lower the learning rate."
        )

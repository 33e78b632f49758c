"""HierarchicalTopK training SAE: SAELens TopK whose loss covers every top-j prefix, j <= K.

Shapes: batch (B), k (K), d_in (D), d_sae (F). Encoding, AuxK, decoder-norm folding and
saving are SAELens's TopK; only the training step differs (Balagansky et al., 2025):

1. pre-activations as TopK (rescaled by ||W_dec|| rows when SAELens does so);
2. the same ``torch.topk(..., sorted=False)`` as SAELens's TopK module, then sorted by
   activation, descending: the prefix order of the paper (section 1, "Ordering");
3. the prefix loss (``loss.fused`` on CPU; on CUDA ``loss.triton``, else or if its kernels fail
   at the first step ``loss.chunked``: ``loss.dispatch``), which also returns the full top-K
   reconstruction, so SAELens's dense [B, F] @ W_dec decode is skipped;
4. SAELens's AuxK on the full-K residual, unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import torch
from jaxtyping import Float, Int
from sae_lens.saes.sae import TrainStepInput, TrainStepOutput
from sae_lens.saes.topk_sae import TopKTrainingSAE
from typing_extensions import override

from saelens_hierarchical.config import HierarchicalTopKTrainingSAEConfig
from saelens_hierarchical.loss.dispatch import select_loss_fn
from saelens_hierarchical.loss.fused import prefix_squared_errors


class SortedTopK(NamedTuple):
    """A TopK encoding with its K latents in activation order, descending."""

    hidden_pre: Float[torch.Tensor, "batch d_sae"]
    """Pre-activations as SAELens TopK returns them (times ||W_dec|| rows when rescaling)."""
    values: Float[torch.Tensor, "batch k"]
    """ReLU'd top-K of ``hidden_pre``, descending (no gradient: selection only)."""
    indices: Int[torch.Tensor, "batch k"]
    """Their latent indices."""
    coefficients: Float[torch.Tensor, "batch k"]
    """Multipliers of the W_dec rows in the reconstruction (with gradient)."""


class HierarchicalTopKTrainingSAE(TopKTrainingSAE):
    """TopK training SAE trained so that every activation-sorted prefix reconstructs."""

    cfg: HierarchicalTopKTrainingSAEConfig  # type: ignore[assignment]

    def sorted_top_k(self, sae_in: Float[torch.Tensor, "batch d_in"]) -> SortedTopK:
        """TopK encoding with its K latents sorted by activation, descending (paper sec. 1).

        Selection is SAELens TopK's own ``torch.topk(..., sorted=False)`` on the same
        (rescaled) pre-activations, so the chosen set, ties included, is stock TopK's.
        ``process_sae_in`` computes (x - b_dec) @ W_enc; here it is x @ W_enc - b_dec @ W_enc,
        equal in value, so backward gets b_dec's encoder gradient from a [d_in] x
        [d_in, d_sae] product instead of a third [batch, d_sae] x [d_sae, d_in] matmul.
        """
        x = self.reshape_fn_in(sae_in.to(self.dtype))
        x = self.run_time_activation_norm_fn_in(self.hook_sae_input(x))
        bias = self.b_enc - (self.b_dec * self.cfg.apply_b_dec_to_input) @ self.W_enc
        raw = self.hook_sae_acts_pre(x @ self.W_enc + bias)
        hidden_pre = raw * self.W_dec.norm(dim=-1) if self.cfg.rescale_acts_by_decoder_norm else raw
        values, indices = torch.topk(hidden_pre.detach(), k=self.cfg.k, dim=-1, sorted=False)
        values, order = values.relu().sort(dim=-1, descending=True, stable=True)
        indices = indices.gather(-1, order)
        # act_times_W_dec multiplies W_dec rows by relu(raw * ||d||) / ||d|| = relu(raw) (the
        # norm cancels in exact arithmetic), so the coefficients skip the [B, F] rescale's
        # backward; the rescaling still decides the selection and the order.
        coefficients = raw.gather(-1, indices).relu()
        return SortedTopK(hidden_pre, values, indices, coefficients)

    def _feature_acts(self, top: SortedTopK) -> torch.Tensor:
        """The [batch, d_sae] activations stock TopK returns (dense, or COO when configured)."""
        like = top.hidden_pre
        if not self.cfg.use_sparse_activations:
            return torch.zeros_like(like).scatter_(-1, top.indices, top.values)
        rows = torch.arange(like.shape[0], device=like.device).repeat_interleave(self.cfg.k)
        coords = torch.stack([rows, top.indices.flatten()])
        return torch.sparse_coo_tensor(
            coords, top.values.flatten(), like.shape, check_invariants=False
        )

    @override
    def training_forward_pass(self, step_input: TrainStepInput) -> TrainStepOutput:
        """Prefix loss + AuxK. ``sae_out`` comes from the loss path (no dense decode);
        ``feature_acts`` carries no gradient (the loss reads the sorted top-K directly)."""
        top = self.sorted_top_k(step_input.sae_in)
        _raise_if_not_finite(
            {
                "input activations (sae_in)": step_input.sae_in,
                "top-k pre-activations (check the weights and inputs)": top.values,
            }
        )
        feature_acts = self.hook_sae_acts_post(self._feature_acts(top))
        prefix = select_loss_fn(self.cfg.loss_impl, step_input.sae_in.device)(
            step_input.sae_in,
            self.b_dec,
            top.coefficients,
            top.indices,
            self.W_dec,
            self.cfg.prefix_weights(),
        )
        sae_out = self.run_time_activation_norm_fn_out(self.hook_sae_recons(prefix.sae_out))
        losses = {
            "hierarchical_mse_loss": prefix.loss,
            **self.calculate_aux_loss(step_input, feature_acts, top.hidden_pre, sae_out),
        }
        metrics = (
            self._budget_metrics(step_input.sae_in, top.coefficients, top.indices)
            if step_input.is_logging_step
            else {}
        )
        return TrainStepOutput(
            sae_in=step_input.sae_in,
            sae_out=sae_out,
            feature_acts=feature_acts,
            hidden_pre=top.hidden_pre,
            loss=sum(losses.values()),  # type: ignore[arg-type]
            losses=losses,
            metrics=metrics,  # type: ignore[arg-type]
        )

    def _budget_metrics(
        self, sae_in: torch.Tensor, coefficients: torch.Tensor, indices: torch.Tensor
    ) -> dict[str, Callable[[], float]]:
        """Lazy ``explained_variance_k{j}``: the trainer calls them on logging steps only."""
        # Snapshot the weights: the trainer evaluates these after optimizer.step() has
        # updated the parameters in place (a copy on logging steps only).
        args = (
            sae_in.detach(),
            self.b_dec.detach().clone(),
            coefficients.detach(),
            indices,
            self.W_dec.detach().clone(),
        )
        budgets = self.cfg.logged_budgets()
        cache: dict[int, float] = {}

        def explained_variance(j: int) -> float:
            if not cache:  # one walk to max(budgets) serves every budget
                x = args[0].double()
                total_variance = (x - x.mean(0)).pow(2).sum(-1).mean()
                errors = prefix_squared_errors(*args, budgets)
                cache.update({b: float(1 - e.mean() / total_variance) for b, e in errors.items()})
            return cache[j]

        return {
            f"explained_variance_k{j}": functools.partial(explained_variance, j) for j in budgets
        }


def _raise_if_not_finite(tensors: dict[str, torch.Tensor]) -> None:
    """Raise naming the first of ``tensors`` (what -> tensor) holding NaN or inf.

    All flags are fetched in one ``tolist()``: one host sync per training step, not one per check.
    """
    finite = torch.stack([torch.isfinite(t).all() for t in tensors.values()]).tolist()
    for what, ok in zip(tensors, finite, strict=True):
        if not ok:
            raise ValueError(
                f"hierarchical_topk: NaN or inf in the {what}; the loss would be NaN. "
                "Check the activation source (e.g. fp16 overflow) or lower the learning rate."
            )

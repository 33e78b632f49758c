"""Training config for HierarchicalTopK SAEs: the SAELens config flag ``"hierarchical_topk"``.

HierarchicalTopK (Balagansky et al., 2025, arXiv 2505.24473) trains one TopK SAE so that
every prefix of its activation-sorted top-K latents reconstructs the input:

    L = sum_j w_j ||x - b_dec - sum_{i<=j} a_(i) d_(i)||^2,   j in budgets (default 1..K)

with the SAELens reduction (summed over d_in, averaged over the batch) and the weights
normalised to sum to one (the paper's uniform mean over j when left at their default).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal, get_args

from sae_lens.saes.sae import SAEConfig
from sae_lens.saes.topk_sae import TopKSAEConfig, TopKTrainingSAEConfig
from typing_extensions import override

ARCHITECTURE = "hierarchical_topk"
MAX_K_METADATA_KEY = "hierarchical_max_k"
LossImpl = Literal["auto", "fused", "chunked", "reference", "triton"]
"""The prefix-loss paths ``loss_impl`` names (see the field's docstring)."""
LOSS_IMPLS: tuple[LossImpl, ...] = get_args(LossImpl)
# These modes keep per-batch statistics that SAELens deletes after one de-normalisation, so
# the K repeated prefix reconstructions (and SAELens's own AuxK) cannot be de-normalised.
_INCOMPATIBLE_NORMALIZATIONS = ("layer_norm", "constant_norm_rescale")


@dataclass
class HierarchicalTopKTrainingSAEConfig(TopKTrainingSAEConfig):
    """TopK training config whose loss averages the error of every top-j prefix, j <= k.

    ``k`` is K, the largest budget; the trained SAE serves any budget 1..K at inference
    (see :func:`saelens_hierarchical.set_budget`). Saved for inference as a stock ``"topk"``
    SAE with K recorded in ``metadata.hierarchical_max_k``.
    """

    budgets: list[int] | None = None
    """Prefix sizes j whose reconstruction error enters the loss, strictly increasing in
    1..k. None (the paper's default) means every j = 1..k."""

    budget_weights: list[float] | None = None
    """Non-negative weight per entry of ``budgets`` (per j = 1..k when ``budgets`` is None),
    normalised to sum to one. None means equal weights: the paper's uniform mean."""

    explained_variance_budgets: list[int] | None = None
    """Budgets whose explained variance is logged as ``metrics/explained_variance_k{j}`` on
    logging steps. None means k/8, k/4, k/2 and k (those that are >= 1)."""

    loss_impl: LossImpl = "auto"
    """``"reference"``: the readable cumsum formula, memory O(batch*k*d_in). ``"fused"``:
    the prefix walk, one latent per step, memory O(batch*d_in). ``"chunked"``: the walk
    4 latents per step (4x fewer, larger kernels for GPUs), memory O(4*batch*d_in).
    ``"triton"``: the walk as fused Triton kernels (CUDA; CPU only under TRITON_INTERPRET=1),
    memory O(batch*d_in); an error, never a silent fallback, where it cannot run. ``"auto"``:
    on CUDA triton when importable (if its first step fails to compile or launch: one warning
    naming the error, then chunked), else chunked (fused if
    SAELENS_HIERARCHICAL_DISABLE_GPU_PATH=1); fused elsewhere."""

    @override
    @classmethod
    def architecture(cls) -> str:
        return ARCHITECTURE

    @override
    def get_inference_config_class(self) -> type[SAEConfig]:
        # Inference is plain TopK at any k' <= K (paper section 2), so the saved SAE is a
        # stock "topk" SAE that loads without this package.
        return TopKSAEConfig

    def __post_init__(self) -> None:
        self._validate()
        for name in ("budgets", "budget_weights", "explained_variance_budgets"):
            value = getattr(self, name)
            if value is not None:  # tuples would not survive the JSON round trip equal
                setattr(self, name, list(value))
        super().__post_init__()
        self.metadata[MAX_K_METADATA_KEY] = self.k

    def _validate(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int):
            raise ValueError(f"k must be an int (K, the largest budget); got {self.k!r}")
        if self.k < 1:
            raise ValueError(f"k must be >= 1; got k={self.k}")
        if self.k > self.d_sae:
            raise ValueError(f"k must be <= d_sae; got k={self.k} > d_sae={self.d_sae}")
        if self.normalize_activations in _INCOMPATIBLE_NORMALIZATIONS:
            raise ValueError(
                f"normalize_activations={self.normalize_activations!r} is incompatible with "
                "hierarchical_topk: its statistics cannot be re-applied to K prefix "
                "reconstructions; use 'none', 'expected_average_only_in' or "
                "'covariance_whitening'"
            )
        if self.loss_impl not in LOSS_IMPLS:
            raise ValueError(f"loss_impl must be one of {LOSS_IMPLS}; got {self.loss_impl!r}")
        _check_budget_list("budgets", self.budgets, self.k, strictly_increasing=True)
        _check_budget_list("explained_variance_budgets", self.explained_variance_budgets, self.k)
        if self.budget_weights is not None:
            n_budgets = self.k if self.budgets is None else len(self.budgets)
            if len(self.budget_weights) != n_budgets:
                raise ValueError(
                    f"budget_weights needs one weight per budget ({n_budgets}); "
                    f"got {len(self.budget_weights)}"
                )
            if any(not math.isfinite(w) or w < 0 for w in self.budget_weights):
                raise ValueError(
                    f"budget_weights must be finite and >= 0; got {self.budget_weights}"
                )
            if sum(self.budget_weights) <= 0:
                raise ValueError("budget_weights must have a positive sum")

    def prefix_weights(self) -> list[float]:
        """Weight of prefix j = 1..k in the loss (zero for prefixes outside ``budgets``)."""
        budgets = self.budgets if self.budgets is not None else list(range(1, self.k + 1))
        raw = self.budget_weights if self.budget_weights is not None else [1.0] * len(budgets)
        total = float(sum(raw))
        weights = [0.0] * self.k
        for j, w in zip(budgets, raw, strict=True):
            weights[j - 1] = float(w) / total
        return weights

    def logged_budgets(self) -> list[int]:
        """Budgets whose explained variance is logged, ascending and without repeats."""
        if self.explained_variance_budgets is not None:
            return sorted(set(self.explained_variance_budgets))
        return sorted({self.k // d for d in (8, 4, 2, 1) if self.k // d >= 1})


def _check_budget_list(
    name: str, values: list[int] | None, k: int, strictly_increasing: bool = False
) -> None:
    if values is None:
        return
    if len(values) == 0:
        raise ValueError(f"{name} must be None or non-empty")
    for j in values:
        if isinstance(j, bool) or not isinstance(j, int) or not 1 <= j <= k:
            raise ValueError(f"{name} must hold ints in 1..k={k}; got {j!r} in {list(values)}")
    if strictly_increasing and any(a >= b for a, b in itertools.pairwise(values)):
        raise ValueError(f"{name} must be strictly increasing; got {list(values)}")

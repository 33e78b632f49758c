"""Adaptive per-token budgets: each token keeps its own prefix of k(x) <= K sorted latents.

A HierarchicalTopK SAE is trained so that every prefix of its activation-sorted top-K latents
reconstructs (Balagansky et al. 2025, sec. 1), so one SAE can give easy tokens few latents and
hard tokens more. Shapes: batch (B), k (K), d_in (D), d_sae (F). Three rules choose k(x):

* ``ThresholdRule(t)``: the latents whose (rescaled) activation is >= t, capped at K; it is
  one elementwise mask on top of the fixed-K encode, and exports as a stock JumpReLU SAE
  (``saelens_hierarchical.adaptive_export``).
* ``ErrorRule(eps)``: the shortest prefix whose relative error ||x - x_hat_j|| / ||x|| <= eps
  (K when none is); needs the error of every prefix, one O(B K D) decode walk.
* ``MarginalRule(delta)``: the longest prefix whose last step still lowers the squared error by
  >= delta. A global bar on the marginal gain is the greedy allocation of a total latent budget
  across tokens (optimal when each token's gains shrink along its prefix), which a bar on the
  activation only approximates.

``calibrate`` picks the rule's parameter for a target mean L0 on given activations.
Works on the stock ``TopKSAE`` a hierarchical run saves and on any ``TopKTrainingSAE``.
"""

from __future__ import annotations

import math
from typing import NamedTuple, TypeAlias

import torch
from jaxtyping import Float, Int
from sae_lens.saes.topk_sae import TopK, TopKSAE, TopKTrainingSAE

from saelens_hierarchical.budget import at_budget, max_budget
from saelens_hierarchical.loss.fused import prefix_squared_errors

__all__ = [
    "AdaptiveEncoding",
    "ErrorRule",
    "MarginalRule",
    "SortedCode",
    "ThresholdRule",
    "adaptive_encode",
    "calibrate",
    "sorted_code",
    "threshold_encode",
]

AnyTopK: TypeAlias = TopKSAE | TopKTrainingSAE


class SortedCode(NamedTuple):
    """The top-K encoding of each token, its latents in activation order, descending."""

    values: Float[torch.Tensor, "batch k"]
    """Activations as ``sae.encode`` returns them (rescaled by ||W_dec|| rows when the SAE does)."""
    indices: Int[torch.Tensor, "batch k"]
    """Their latent indices."""
    prefix_errors: Float[torch.Tensor, "batch k_plus_one"] | None
    """||x - x_hat_j||^2 for j = 0..K (j = 0: b_dec alone); None when the rule needs none."""
    input_norms: Float[torch.Tensor, " batch"]
    """||x||^2 of the SAE input (after b_dec is NOT subtracted): the relative error's scale."""


class AdaptiveEncoding(NamedTuple):
    """What ``adaptive_encode`` returns."""

    k: Int[torch.Tensor, " batch"]
    """Latents kept per token, 0..K."""
    feature_acts: Float[torch.Tensor, "batch d_sae"]
    """The kept activations (zeros elsewhere), as ``sae.encode`` would give them."""
    sae_out: Float[torch.Tensor, "batch d_in"]
    """``sae.decode(feature_acts)``: the reconstruction from each token's prefix."""


def _check_number(name: str, value: float, low: float, high: float, closed_low: bool) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not (value >= low if closed_low else value > low) or value > high:
        span = f"{'[' if closed_low else '('}{low}, {high}{']' if math.isfinite(high) else ')'}"
        raise ValueError(f"{name} must be a finite number in {span}, got {value!r}")


class ThresholdRule(NamedTuple):
    """Rule (a): keep the top-K latents whose activation is >= ``threshold`` (>= 0)."""

    threshold: float

    def check(self) -> None:
        _check_number("threshold", self.threshold, 0.0, math.inf, closed_low=True)

    def budgets(self, code: SortedCode) -> Int[torch.Tensor, " batch"]:
        return (code.values >= self.threshold).sum(-1)


class ErrorRule(NamedTuple):
    """Rule (b): the shortest prefix with ||x - x_hat_j|| / ||x|| <= ``eps`` (> 0), else K."""

    eps: float

    def check(self) -> None:
        _check_number("eps", self.eps, 0.0, math.inf, closed_low=False)

    def budgets(self, code: SortedCode) -> Int[torch.Tensor, " batch"]:
        assert code.prefix_errors is not None
        ok = code.prefix_errors <= self.eps**2 * code.input_norms[:, None]
        none_ok = torch.full_like(code.input_norms, code.values.shape[-1], dtype=torch.long)
        return torch.where(ok.any(-1), ok.int().argmax(-1), none_ok)


class MarginalRule(NamedTuple):
    """Keep prefix steps up to the last one that lowers ||x - x_hat||^2 by >= ``delta``.

    ``delta`` may be negative (then steps that raise the error a little are kept too)."""

    delta: float

    def check(self) -> None:
        _check_number("delta", self.delta, -math.inf, math.inf, closed_low=False)

    def budgets(self, code: SortedCode) -> Int[torch.Tensor, " batch"]:
        assert code.prefix_errors is not None
        gains = code.prefix_errors[:, :-1] - code.prefix_errors[:, 1:]  # step j -> j + 1
        ok = gains >= self.delta
        steps = torch.arange(1, ok.shape[-1] + 1, device=ok.device)
        return (ok * steps).amax(-1)


Rule: TypeAlias = ThresholdRule | ErrorRule | MarginalRule


def _check_sae(sae: AnyTopK, x: torch.Tensor) -> None:
    if sae.cfg.normalize_activations != "none":
        raise ValueError(
            f"sae.cfg.normalize_activations={sae.cfg.normalize_activations!r}: adaptive budgets "
            "need the folded SAE a training run saves ('none')"
        )
    if x.ndim != 2 or x.shape[-1] != sae.cfg.d_in:
        raise ValueError(
            f"activations must have shape [batch, d_in={sae.cfg.d_in}], got {tuple(x.shape)}"
        )


def sorted_code(
    sae: AnyTopK, x: Float[torch.Tensor, "batch d_in"], with_errors: bool = True
) -> SortedCode:
    """The sorted top-K code of ``x`` and, with ``with_errors``, the error of every prefix."""
    _check_sae(sae, x)
    with torch.no_grad(), at_budget(sae, max_budget(sae)):
        acts = type(sae).encode(sae, x)  # the class encode: an instance override may wrap us
        values, indices = acts.topk(max_budget(sae), dim=-1, sorted=True)
        errors = None
        if with_errors:
            coefficients = values
            if sae.cfg.rescale_acts_by_decoder_norm:
                coefficients = values / sae.W_dec.norm(dim=-1)[indices]
            big_k = values.shape[-1]
            walk = prefix_squared_errors(
                x, sae.b_dec, coefficients, indices, sae.W_dec, list(range(1, big_k + 1))
            )
            first = (x - sae.b_dec).pow(2).sum(-1)
            errors = torch.stack([first, *(walk[j] for j in range(1, big_k + 1))], -1)
    return SortedCode(values, indices, errors, x.pow(2).sum(-1))


def _keep_prefix(
    sae: AnyTopK, code: SortedCode, k: Int[torch.Tensor, " batch"]
) -> Float[torch.Tensor, "batch d_sae"]:
    keep = torch.arange(code.values.shape[-1], device=k.device) < k[:, None]
    acts = torch.zeros(code.values.shape[0], sae.cfg.d_sae, dtype=code.values.dtype)
    return acts.to(code.values.device).scatter_(-1, code.indices, code.values * keep)


class _ThresholdTopK(TopK):
    """SAELens's TopK activation that also zeroes the kept values below a threshold; it keeps
    the per-token count, so rule (a) costs one [batch, K] mask over the fixed-K encode."""

    def __init__(self, k: int, threshold: float) -> None:
        super().__init__(k)
        self.threshold = threshold
        self.kept: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values, indices = torch.topk(x, k=self.k, dim=-1, sorted=False)
        keep = values >= self.threshold if self.threshold > 0 else torch.ones_like(values > 0)
        self.kept = keep.sum(-1)
        return torch.zeros_like(x).scatter_(-1, indices, values.relu() * keep)


def threshold_encode(
    sae: AnyTopK, x: Float[torch.Tensor, "batch d_in"], rule: ThresholdRule
) -> tuple[Int[torch.Tensor, " batch"], Float[torch.Tensor, "batch d_sae"]]:
    """Rule (a) through ``sae.encode`` (stock hooks fire) with its TopK activation swapped for
    one that also applies the threshold; (k per token, activations)."""
    rule.check()
    _check_sae(sae, x)
    activation = _ThresholdTopK(max_budget(sae), rule.threshold)
    with torch.no_grad(), at_budget(sae, max_budget(sae)):  # restores the activation on exit
        sae.activation_fn = activation
        acts = type(sae).encode(sae, x)  # the class encode: an instance override may wrap us
    assert activation.kept is not None
    return activation.kept, acts


def adaptive_encode(
    sae: AnyTopK, x: Float[torch.Tensor, "batch d_in"], rule: Rule
) -> AdaptiveEncoding:
    """Per-token budgets k(x) <= K by ``rule``, the kept activations and the reconstruction."""
    rule.check()
    _check_sae(sae, x)
    with torch.no_grad():
        if isinstance(rule, ThresholdRule):
            k, acts = threshold_encode(sae, x, rule)
        else:
            code = sorted_code(sae, x, with_errors=True)
            k = rule.budgets(code)
            acts = _keep_prefix(sae, code, k)
        return AdaptiveEncoding(k, acts, sae.decode(acts))


def _parameter_grid(code: SortedCode, rule_type: type) -> torch.Tensor:
    """Every value of the rule's parameter at which some token's k(x) changes, ascending."""
    if rule_type is ThresholdRule:
        return code.values.flatten().unique()
    assert code.prefix_errors is not None
    if rule_type is MarginalRule:
        return (code.prefix_errors[:, :-1] - code.prefix_errors[:, 1:]).flatten().unique()
    ratio = (code.prefix_errors / code.input_norms[:, None].clamp(min=1e-30)).sqrt()
    return ratio.flatten().clamp(min=1e-12).unique()


def calibrate(
    sae: AnyTopK,
    x: Float[torch.Tensor, "batch d_in"],
    target_l0: int | float,
    rule_type: type = ThresholdRule,
) -> Rule:
    """The rule whose mean k(x) on ``x`` is closest to ``target_l0`` (in 1..K).

    k(x) is monotone in each rule's parameter, so a bisection over the values where some
    token's k changes finds the closest achievable mean exactly on ``x``; held-out tokens
    land near it (the tests state the tolerance).
    """
    big_k = max_budget(sae)
    ok = isinstance(target_l0, int | float) and not isinstance(target_l0, bool)
    if not ok or not 1 <= target_l0 <= big_k:
        raise ValueError(f"target_l0 must be a number in 1..K={big_k}, got {target_l0!r}")
    if rule_type not in (ThresholdRule, ErrorRule, MarginalRule):
        raise ValueError(
            f"rule_type must be ThresholdRule, ErrorRule or MarginalRule, got {rule_type!r}"
        )
    code = sorted_code(sae, x, with_errors=rule_type is not ThresholdRule)
    grid = _parameter_grid(code, rule_type)  # ascending; mean k(x) falls along it

    def mean_k(i: int) -> float:
        return float(rule_type(float(grid[i])).budgets(code).float().mean())

    lo, hi = 0, len(grid) - 1
    while lo < hi:  # the last grid point whose mean k still reaches the target
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if mean_k(mid) >= target_l0 else (lo, mid - 1)
    best = min({lo, min(lo + 1, len(grid) - 1)}, key=lambda i: abs(mean_k(i) - target_l0))
    # Between two grid points the rule keeps the same latents; the midpoint to the neighbour
    # that keeps them too (below for >= rules, above for the <= error rule) leaves no token
    # on the boundary, so float rounding elsewhere (e.g. an exported SAE) cannot flip it.
    step = 1 if rule_type is ErrorRule else -1
    neighbour = min(max(best + step, 0), len(grid) - 1)
    return rule_type(float((grid[best] + grid[neighbour]) / 2))

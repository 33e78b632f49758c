"""Use a trained SAE at any budget k <= K: keep the top-k latents (paper section 2).

Works on the stock ``TopKSAE`` that a hierarchical_topk run saves (no import of this
package is needed to load it) and on any ``TopKTrainingSAE``. SAELens caches k inside
the SAE's ``TopK`` activation module, so changing ``cfg.k`` alone does nothing: these
functions rebuild that module.

* Inference ``TopKSAE``: ``cfg.k`` and the activation module follow the budget (so
  ``cfg.to_dict()`` and tools that read ``cfg.k`` see it); K is kept in
  ``cfg.metadata.hierarchical_max_k``, recorded from the original ``cfg.k`` the first time
  a plain TopK SAE without that key is given a budget.
* ``TopKTrainingSAE``: ``cfg.k`` stays K (it is what training optimises); only the
  activation module used by ``encode``/``forward`` follows the budget.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sae_lens.saes.batchtopk_sae import BatchTopKTrainingSAE
from sae_lens.saes.topk_sae import TopK, TopKSAE, TopKTrainingSAE

from saelens_hierarchical.config import MAX_K_METADATA_KEY

__all__ = ["at_budget", "current_budget", "max_budget", "set_budget"]


def _check_supported(sae: Any) -> None:
    if isinstance(sae, BatchTopKTrainingSAE) or not isinstance(sae, TopKSAE | TopKTrainingSAE):
        raise TypeError(
            "budgets apply to per-sample TopK SAEs (TopKSAE, TopKTrainingSAE and "
            f"hierarchical_topk); got {type(sae).__name__}"
        )


def max_budget(sae: TopKSAE | TopKTrainingSAE) -> int:
    """K, the largest budget: ``metadata.hierarchical_max_k``, else the SAE's own k."""
    _check_supported(sae)
    if isinstance(sae, TopKTrainingSAE):
        return int(sae.cfg.k)
    recorded = sae.cfg.metadata.get(MAX_K_METADATA_KEY)
    return int(recorded) if recorded is not None else int(sae.cfg.k)


def current_budget(sae: TopKSAE | TopKTrainingSAE) -> int:
    """The k that ``sae.encode`` keeps right now."""
    _check_supported(sae)
    return int(sae.activation_fn.k)  # type: ignore[union-attr]


def set_budget(sae: TopKSAE | TopKTrainingSAE, k: int) -> None:
    """Make ``sae.encode`` keep the top ``k`` latents, for any ``1 <= k <= K``.

    Raises ValueError for k outside 1..K, naming both.
    """
    big_k = max_budget(sae)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= big_k:
        raise ValueError(
            f"budget k={k!r} is outside 1..K={big_k}: a hierarchical SAE is trained for "
            "prefixes of its top-K latents only"
        )
    if isinstance(sae, TopKTrainingSAE):
        sae.activation_fn = TopK(k, use_sparse_activations=sae.cfg.use_sparse_activations)
        return
    if sae.cfg.metadata.get(MAX_K_METADATA_KEY) is None:
        sae.cfg.metadata[MAX_K_METADATA_KEY] = big_k
    sae.cfg.k = k
    sae.activation_fn = sae.get_activation_fn()


@contextmanager
def at_budget(sae: TopKSAE | TopKTrainingSAE, k: int) -> Iterator[TopKSAE | TopKTrainingSAE]:
    """``with at_budget(sae, 8): sae.encode(x)``; the previous budget comes back on exit."""
    _check_supported(sae)
    previous_k, previous_fn = sae.cfg.k, sae.activation_fn
    set_budget(sae, k)
    try:
        yield sae
    finally:
        sae.cfg.k = previous_k
        sae.activation_fn = previous_fn

"""HierarchicalTopK sparse autoencoders for SAELens (Balagansky et al., arXiv 2505.24473).

Importing this package registers the SAELens training architectures ``"hierarchical_topk"`` and
``"multi_topk"`` (OpenAI Multi-TopK, a peer for comparisons).
Trained SAEs are saved as stock ``"topk"`` SAEs, which load without this package.
"""

from sae_lens.registry import SAE_TRAINING_CLASS_REGISTRY, register_sae_training_class

from saelens_hierarchical import multi_topk  # noqa: F401  registers "multi_topk" on import
from saelens_hierarchical.budget import at_budget, current_budget, max_budget, set_budget
from saelens_hierarchical.config import ARCHITECTURE, HierarchicalTopKTrainingSAEConfig
from saelens_hierarchical.loss_fused import hierarchical_loss_fused
from saelens_hierarchical.loss_reference import PrefixLoss, hierarchical_loss_reference
from saelens_hierarchical.sae import HierarchicalTopKTrainingSAE


def _register() -> None:
    """Register once; a reload of this package re-points the entry at the new classes."""
    entry = SAE_TRAINING_CLASS_REGISTRY.get(ARCHITECTURE)
    if entry is None:
        register_sae_training_class(
            ARCHITECTURE, HierarchicalTopKTrainingSAE, HierarchicalTopKTrainingSAEConfig
        )
    elif (entry[0].__module__, entry[0].__qualname__) == (
        HierarchicalTopKTrainingSAE.__module__, HierarchicalTopKTrainingSAE.__qualname__
    ):
        SAE_TRAINING_CLASS_REGISTRY[ARCHITECTURE] = (
            HierarchicalTopKTrainingSAE,
            HierarchicalTopKTrainingSAEConfig,
        )
    else:
        raise ValueError(
            f"SAELens architecture {ARCHITECTURE!r} is already registered by {entry[0]!r}"
        )


_register()

__all__ = [
    "ARCHITECTURE",
    "HierarchicalTopKTrainingSAE",
    "HierarchicalTopKTrainingSAEConfig",
    "PrefixLoss",
    "at_budget",
    "current_budget",
    "hierarchical_loss_fused",
    "hierarchical_loss_reference",
    "max_budget",
    "set_budget",
]

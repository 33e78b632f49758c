"""HierarchicalTopK sparse autoencoders for SAELens (Balagansky et al., arXiv 2505.24473).

Importing this package registers the SAELens training architecture ``"hierarchical_topk"``.
The comparison with peer SAEs (TopK, BatchTopK, Matryoshka, OpenAI's Multi-TopK, which registers
``"multi_topk"``) is the study in ``saelens_hierarchical.study``; the plugin never imports it.
Trained SAEs are saved as stock ``"topk"`` SAEs, which load without this package.
"""

from saelens_hierarchical.budget import at_budget, current_budget, max_budget, set_budget
from saelens_hierarchical.config import ARCHITECTURE, HierarchicalTopKTrainingSAEConfig
from saelens_hierarchical.loss.fused import hierarchical_loss_fused
from saelens_hierarchical.loss.reference import PrefixLoss, hierarchical_loss_reference
from saelens_hierarchical.registration import register_architecture
from saelens_hierarchical.sae import HierarchicalTopKTrainingSAE


def _register() -> None:
    """Register once; a reload of this package re-points the entry at the new classes."""
    register_architecture(
        ARCHITECTURE, HierarchicalTopKTrainingSAE, HierarchicalTopKTrainingSAEConfig
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

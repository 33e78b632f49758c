"""The peer table: every SAE architecture the comparison trains, in one place.

Balagansky et al. 2025 (arXiv 2505.24473, abstract and Fig. 3) claim that one HierarchicalTopK SAE
trained at K matches or beats SAEs trained separately at each budget k. The separately trained
peers here are SAELens's TopK, BatchTopK and Matryoshka-BatchTopK at each k; OpenAI's Multi-TopK
(Gao et al. 2024, section 5.3), the two-budget special case, is trained once at K.

Adding a peer is one entry in ``PEERS`` (plus its module when it is a new SAELens architecture).
Each trained SAE carries its method and trained k in ``cfg.metadata`` (``METHOD_KEY``,
``TRAINED_K_KEY``), which survive ``save_inference_model``; evaluation reads them back from
there, never from folder names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from sae_lens import (
    BatchTopKTrainingSAEConfig,
    MatryoshkaBatchTopKTrainingSAEConfig,
    TopKTrainingSAEConfig,
)
from sae_lens.saes.sae import SAEConfig, TrainingSAEConfig

from saelens_hierarchical.config import HierarchicalTopKTrainingSAEConfig
from saelens_hierarchical.study.multi_topk import MultiTopKTrainingSAEConfig

METHOD_KEY = "peer_method"
"""``cfg.metadata`` key holding the peer's name in ``PEERS``."""

TRAINED_K_KEY = "peer_trained_k"
"""``cfg.metadata`` key holding the k the SAE was trained at (saved JumpReLU SAEs have no k)."""


class PeerArgs(NamedTuple):
    """What a config builder gets: the budget it trains at and the fields every SAE shares."""

    k: int
    common: dict[str, Any]
    matryoshka_widths: list[int]


@dataclass(frozen=True)
class Peer:
    """One architecture in the comparison."""

    build: Callable[[PeerArgs], TrainingSAEConfig]
    """SAELens training config at budget ``args.k``."""

    swept: bool
    """True: ONE SAE trained at K, evaluated at every budget k <= K with ``at_budget``.
    False: one SAE trained per budget k, evaluated as trained (at its own k)."""

    d_sae_per_k: int = 1
    """The SAE needs ``d_sae >= d_sae_per_k * K`` latents (Multi-TopK selects 4K)."""

    def trained_ks(self, K: int, budgets: list[int]) -> list[int]:
        """The k of every SAE of this peer: ``[K]`` when swept, else each budget."""
        return [K] if self.swept else list(budgets)

    def eval_budgets(self, budgets: list[int]) -> list[int] | None:
        """Budgets to evaluate one trained SAE at; None means "as trained"."""
        return list(budgets) if self.swept else None


PEERS: dict[str, Peer] = {
    "hierarchical_topk": Peer(
        lambda a: HierarchicalTopKTrainingSAEConfig(k=a.k, **a.common), swept=True
    ),
    "topk": Peer(lambda a: TopKTrainingSAEConfig(k=a.k, **a.common), swept=False),
    "batchtopk": Peer(lambda a: BatchTopKTrainingSAEConfig(k=a.k, **a.common), swept=False),
    "matryoshka_batchtopk": Peer(
        lambda a: MatryoshkaBatchTopKTrainingSAEConfig(
            k=a.k, matryoshka_widths=a.matryoshka_widths, **a.common
        ),
        swept=False,
    ),
    "multi_topk": Peer(
        lambda a: MultiTopKTrainingSAEConfig(k=a.k, **a.common),
        swept=True,
        d_sae_per_k=MultiTopKTrainingSAEConfig.multi_topk_factor,
    ),
}
"""Method name -> peer, in the order the comparison trains and tabulates them."""


def sae_name(method: str, k: int) -> str:
    """Folder name of one trained SAE: ``hierarchical_topk_K32`` (swept), ``topk_k8``."""
    return f"{method}_{'K' if PEERS[method].swept else 'k'}{k}"


def build_config(method: str, args: PeerArgs) -> TrainingSAEConfig:
    """The peer's training config, with its method and trained k recorded in the metadata."""
    cfg = PEERS[method].build(args)
    cfg.metadata[METHOD_KEY] = method
    cfg.metadata[TRAINED_K_KEY] = args.k
    return cfg


def method_of(cfg: SAEConfig) -> str:
    """The peer that trained an SAE, from its metadata."""
    method = cfg.metadata.get(METHOD_KEY)
    if method is None:
        raise ValueError(f"SAE metadata has no {METHOD_KEY!r}: it was not trained by the study")
    return str(method)


def trained_k_of(cfg: SAEConfig) -> int:
    """The k an SAE was trained at, from its metadata."""
    k = cfg.metadata.get(TRAINED_K_KEY)
    if k is None:
        raise ValueError(f"SAE metadata has no {TRAINED_K_KEY!r}: it was not trained by the study")
    return int(k)

"""Train one ``hierarchical_topk`` SAE at K and its peers on IDENTICAL activations, in lockstep.

Which peers exist, and whether each is one SAE at K or one SAE per budget, is the table in
``saelens_hierarchical.study.peers``.
Every SAE gets the same batch at every step: SAELens's ``MultiSAETrainingRunner`` when a model and
token dataset drive training, its ``MultiSAETrainer`` when activations come from elsewhere
(the synthetic benchmark, or an activation cache).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from sae_lens import LoggingConfig
from sae_lens.config import SAETrainerConfig
from sae_lens.multi_sae_training_runner import MultiSAETrainingRunner, MultiSAETrainingRunnerConfig
from sae_lens.registry import get_sae_training_class
from sae_lens.saes.sae import TrainingSAE, TrainingSAEConfig
from sae_lens.training.multi_sae_trainer import MultiSAETrainer
from transformer_lens import HookedTransformer

from saelens_hierarchical.activations import mixing_buffer_batches
from saelens_hierarchical.study.peers import PEERS, PeerArgs, build_config, sae_name


@dataclass
class BaselineConfig:
    """Which SAEs to train and how; every SAE shares the optimiser settings and the data."""

    d_sae: int
    """Dictionary size of every SAE."""

    K: int
    """Largest budget: hierarchical_topk and multi_topk are trained at K and swept over budgets."""

    budgets: list[int]
    """Budgets k <= K; TopK, BatchTopK and Matryoshka get one SAE trained at each k."""

    methods: tuple[str, ...] = tuple(PEERS)
    """Subset of the peer table's methods to train."""

    training_tokens: int = 500_000
    """Activations each SAE sees (the same ones for all)."""

    train_batch_size_tokens: int = 2048
    """Activations per optimiser step."""

    lr: float = 1e-3
    """Adam learning rate, shared by all SAEs."""

    lr_decay_fraction: float = 0.0
    """Fraction of the final steps over which the lr decays linearly to zero (0: constant lr).
    Constant-lr SAEs stop short of their optimum; decaying to zero is the common recipe."""

    paired_init: bool = False
    """Start TopK at K from hierarchical_topk's initial weights, so the two differ only in
    their objective (a paired comparison at k = K)."""

    dead_feature_window: int = 200
    """Steps without firing after which a latent counts as dead (feeds every AuxK loss)."""

    matryoshka_widths: list[int] | None = None
    """Nested dictionary prefixes ending at d_sae; None means d_sae/8, d_sae/4, d_sae/2, d_sae."""

    normalize_activations: str = "expected_average_only_in"
    """SAELens input scaling, estimated on the first batches and folded in after training."""

    seed: int = 0
    """Seed for SAE initialisation."""

    extra_sae_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra fields for every training SAE config (e.g. ``decoder_init_norm``)."""

    def __post_init__(self) -> None:
        unknown = set(self.methods) - set(PEERS)
        if unknown:
            raise ValueError(f"methods: unknown {sorted(unknown)}; choose from {tuple(PEERS)}")
        if not 1 <= self.K <= self.d_sae:
            raise ValueError(f"K must be in 1..d_sae={self.d_sae}, got {self.K}")
        if not self.budgets or any(not 1 <= k <= self.K for k in self.budgets):
            raise ValueError(f"budgets must be non-empty and within 1..K={self.K}: {self.budgets}")
        for method in self.methods:
            factor = PEERS[method].d_sae_per_k
            if factor * self.K > self.d_sae:
                raise ValueError(
                    f"{method} needs {factor}*K <= d_sae; K={self.K}, d_sae={self.d_sae}"
                )
        if self.training_tokens < self.train_batch_size_tokens:
            raise ValueError("training_tokens must be >= train_batch_size_tokens")
        if not 0.0 <= self.lr_decay_fraction <= 1.0:
            raise ValueError(f"lr_decay_fraction must be in [0, 1], got {self.lr_decay_fraction}")

    @property
    def lr_decay_steps(self) -> int:
        """Steps of the linear decay to zero at the end of training."""
        steps = self.training_tokens // self.train_batch_size_tokens
        return min(int(round(self.lr_decay_fraction * steps)), steps - 1)

    @property
    def widths(self) -> list[int]:
        d = self.d_sae
        return self.matryoshka_widths or [d // 8, d // 4, d // 2, d]


def peer_configs(cfg: BaselineConfig, d_in: int) -> dict[str, TrainingSAEConfig]:
    """Name -> SAELens training config for every SAE to train, in the peer table's order: the
    swept peers at K, then each budget's per-budget peers. Method and k go in the metadata."""
    common = {
        "d_in": d_in,
        "d_sae": cfg.d_sae,
        "normalize_activations": cfg.normalize_activations,
        **cfg.extra_sae_kwargs,
    }
    swept = [m for m in PEERS if m in cfg.methods and PEERS[m].swept]
    per_budget = [m for m in PEERS if m in cfg.methods and not PEERS[m].swept]
    plan = [(m, cfg.K) for m in swept] + [(m, k) for k in cfg.budgets for m in per_budget]
    return {
        sae_name(method, k): build_config(method, PeerArgs(k, common, cfg.widths))
        for method, k in plan
    }


def build_saes(
    cfg: BaselineConfig, d_in: int, metadata: dict[str, Any] | None = None
) -> dict[str, TrainingSAE[Any]]:
    """Initialise every peer; each SAE's init depends only on (seed, its name), not on its peers."""
    saes: dict[str, TrainingSAE[Any]] = {}
    for name, sae_cfg in peer_configs(cfg, d_in).items():
        for key, value in (metadata or {}).items():
            setattr(sae_cfg.metadata, key, value)
        torch.manual_seed(cfg.seed + zlib.crc32(name.encode()))
        saes[name] = get_sae_training_class(sae_cfg.architecture())[0](sae_cfg)
    paired = (sae_name("hierarchical_topk", cfg.K), sae_name("topk", cfg.K))
    if cfg.paired_init and all(name in saes for name in paired):
        saes[paired[1]].load_state_dict(saes[paired[0]].state_dict())
    return saes


def train_on_model(
    cfg: BaselineConfig,
    model: HookedTransformer,
    dataset: Dataset,
    hook_name: str,
    out_dir: str | Path,
    context_size: int = 128,
) -> dict[str, Path]:
    """Train every peer on ``model``'s activations at ``hook_name`` with ``MultiSAETrainingRunner``.

    Returns name -> folder of the saved inference SAE (loadable with plain ``SAE.load_from_disk``).
    """
    saes = build_saes(cfg, model.cfg.d_model)
    runner_cfg = MultiSAETrainingRunnerConfig(
        saes={name: sae.cfg for name, sae in saes.items()},
        hook_names=hook_name,
        model_name=model.cfg.model_name,
        dataset_path="override_dataset",
        streaming=False,
        context_size=context_size,
        prepend_bos=False,  # token rows are already BOS-prefixed
        training_tokens=cfg.training_tokens,
        train_batch_size_tokens=cfg.train_batch_size_tokens,
        n_batches_in_buffer=mixing_buffer_batches(cfg.train_batch_size_tokens, context_size),
        store_batch_size_prompts=8,
        lr=cfg.lr,
        lr_decay_steps=cfg.lr_decay_steps,
        dead_feature_window=cfg.dead_feature_window,
        feature_sampling_window=cfg.dead_feature_window,
        n_batches_for_norm_estimate=20,
        logger=LoggingConfig(log_to_wandb=False),
        checkpoint_path=None,
        output_path=str(out_dir),
        device=str(next(model.parameters()).device),
        seed=cfg.seed,
        # BOS/EOS positions are outliers (attention sinks) that the sweep also leaves out.
        exclude_special_tokens=getattr(model, "tokenizer", None) is not None,
    )
    MultiSAETrainingRunner(
        runner_cfg, override_dataset=dataset, override_model=model, override_saes=saes
    ).run()
    return {name: Path(out_dir) / name for name in saes}


def train_on_provider(
    cfg: BaselineConfig,
    data_provider: Iterator[torch.Tensor],
    d_in: int,
    hook_name: str,
    out_dir: str | Path,
    metadata: dict[str, Any] | None = None,
    on_batch: Callable[[MultiSAETrainer], None] | None = None,
) -> dict[str, Path]:
    """Train every peer in lockstep on batches from ``data_provider`` with ``MultiSAETrainer``.

    For activations not produced by a live model: the synthetic benchmark or an activation cache.
    Each batch is ``[train_batch_size_tokens, d_in]``; every SAE sees every batch.
    ``on_batch(trainer)`` runs before each batch is handed over (e.g. a training-curve probe
    reading ``trainer.saes`` and ``trainer.n_training_steps``).
    """
    saes = build_saes(cfg, d_in, {**(metadata or {}), "hook_name": hook_name})
    trainer_cfg = SAETrainerConfig(
        total_training_samples=cfg.training_tokens,
        train_batch_size_samples=cfg.train_batch_size_tokens,
        lr=cfg.lr,
        lr_end=cfg.lr,
        lr_decay_steps=cfg.lr_decay_steps,
        dead_feature_window=cfg.dead_feature_window,
        feature_sampling_window=cfg.dead_feature_window,
        n_batches_for_norm_estimate=20,
    )
    trainer: MultiSAETrainer | None = None

    def batches() -> Iterator[dict[str, torch.Tensor]]:
        for batch in data_provider:
            if on_batch is not None and trainer is not None:
                on_batch(trainer)
            yield {hook_name: batch}

    trainer = MultiSAETrainer(trainer_cfg, saes, {n: hook_name for n in saes}, batches())
    trained = trainer.fit()
    paths = {}
    for name, sae in trained.items():
        paths[name] = Path(out_dir) / name
        sae.save_inference_model(paths[name])
    return paths

"""SAEDashboard's ``NeuronpediaRunner`` on a saved SAE with an in-memory model and local data.

The stock runner fails on SAELens-6 SAEs in two places: it loads the model by name
(``HookedSAETransformer.from_pretrained(sae.cfg.metadata.model_name)``: "custom not found") and it
builds its activation store from a Hub dataset path (``sae.cfg.dataset_path``, which SAELens 6
moved to ``cfg.metadata``). This subclass overrides exactly those two steps; everything else
(feature batching, quantiles, the Neuronpedia JSON) is SAEDashboard's.

An SAE at a hook with no residual direction (a LIMe route, Gerasimov et al., arXiv 2502.09245,
sec. 3) is run as the dashboards run it (``route_hooks``): its 4-D activations flattened or at
``hook_head_index``, and, since its latents have no logit effect, the JSON's logit lists
(top/bottom tokens and the logit histogram) left empty rather than filled from a zero direction.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from datasets import Dataset
from sae_dashboard.neuronpedia.neuronpedia_runner import NeuronpediaRunner
from sae_dashboard.neuronpedia.neuronpedia_runner_config import NeuronpediaRunnerConfig
from sae_lens import ActivationsStore
from transformer_lens import HookedTransformer

from saelens_hierarchical.budget import set_budget
from saelens_hierarchical.ecosystem.output_folder import atomic_folder
from saelens_hierarchical.ecosystem.route_hooks import has_residual_direction, hook_support
from saelens_hierarchical.ecosystem.sae_folder import check_budgets, load_sae


class InMemoryNeuronpediaRunner(NeuronpediaRunner):
    """``NeuronpediaRunner`` with the model and token dataset passed in, at a chosen budget."""

    def __init__(
        self,
        cfg: NeuronpediaRunnerConfig,
        model: HookedTransformer,
        dataset: Dataset,
        budget: int | None = None,
    ):
        self._given_model, self._given_dataset, self._budget = model, dataset, budget
        super().__init__(cfg)

    def _load_sae_or_transcoder(self) -> None:
        super()._load_sae_or_transcoder()
        if self._budget is not None:
            set_budget(self.sae, self._budget)  # type: ignore[arg-type]

    def _initialize_model(self) -> None:
        self.model = self._given_model
        self.hook_name = self.sae.cfg.metadata.hook_name

    def _setup_activation_store(self) -> None:
        self.sae.cfg.metadata.context_size = self.cfg.n_tokens_in_prompt
        self.activations_store = ActivationsStore.from_sae(
            model=self.model,
            sae=self.sae,
            dataset=self._given_dataset,
            streaming=False,
            context_size=self.cfg.n_tokens_in_prompt,
            store_batch_size_prompts=8,
            n_batches_in_buffer=16,
            disable_concat_sequences=True,
            device=self.cfg.activation_store_device or "cpu",
        )
        # the stock runner caches under ./cached_activations (the working directory)
        self.cached_activations_dir = Path(self.cfg.outputs_dir) / "cached_activations"


def export_neuronpedia(
    sae_dir: str | Path,
    model: HookedTransformer,
    dataset: Dataset,
    out_dir: str | Path,
    budget: int | None = None,
    n_prompts: int = 256,
    n_tokens_in_prompt: int = 64,
    n_features_at_a_time: int = 128,
    sae_set: str = "hierarchical-topk",
) -> Path:
    """Neuronpedia's batch JSON files for the SAE in ``sae_dir`` (at ``budget``, default K).

    ``dataset`` holds token rows (a ``tokens`` column) of at least ``n_tokens_in_prompt``
    tokens. Returns the runner's output folder inside ``out_dir``, which appears only when complete.
    """
    sae = load_sae(sae_dir)
    if budget is not None:
        check_budgets(sae, [budget])
    if sae.cfg.metadata.prepend_bos is None:
        raise ValueError(f"{Path(sae_dir) / 'cfg.json'}: metadata.prepend_bos is not set")
    residual = has_residual_direction(sae.cfg.metadata.hook_name)
    support = hook_support(sae, model)  # checks the hook width before anything is written
    with atomic_folder(out_dir) as tmp:
        cfg = NeuronpediaRunnerConfig(
            sae_set=sae_set,
            sae_path=str(sae_dir),
            outputs_dir=str(tmp),
            from_local_sae=True,
            huggingface_dataset_path="in-memory",  # read only for logging here
            n_prompts_total=n_prompts,
            n_tokens_in_prompt=n_tokens_in_prompt,
            n_prompts_in_forward_pass=min(32, n_prompts),
            n_features_at_a_time=n_features_at_a_time,
            sae_device="cpu",
            model_device=str(model.cfg.device),
            activation_store_device="cpu",
            shuffle_tokens=False,
        )
        runner = InMemoryNeuronpediaRunner(cfg, model, dataset, budget)
        with support():
            runner.run()
        shutil.rmtree(runner.cached_activations_dir, ignore_errors=True)
        name = Path(runner.cfg.outputs_dir).name
        if not residual:
            for batch in (tmp / name).glob("batch-*.json"):
                _drop_logits(batch)
    return Path(out_dir) / name


LOGIT_FIELDS = (
    "pos_str",
    "pos_values",
    "neg_str",
    "neg_values",
    "logits_hist_data_bar_heights",
    "logits_hist_data_bar_values",
)
"""Neuronpedia feature fields computed from the latent's logit direction."""


def _drop_logits(batch: Path) -> None:
    data = json.loads(batch.read_text())
    for feature in data["features"]:
        feature.update({field: [] for field in LOGIT_FIELDS})
    batch.write_text(json.dumps(data))

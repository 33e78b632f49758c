"""SAEDashboard on SAEs at hooks with no residual-stream direction, such as LIMe route hooks.

SAEDashboard 0.8 maps a latent to the logits through ``to_resid_direction``, which knows only
residual, MLP and attention hooks (others raise NotImplementedError), and it flattens the head
axis of ``hook_z`` only. A LIMe route latent (Gerasimov et al., arXiv 2502.09245, sec. 3: the
per-head mixture over earlier layers' K/V) has no direct effect on the logits, so for such hooks
the page drops the logit panels, and a 4-D [batch, pos, head, d] hook is flattened over heads
(or one head is taken, ``metadata.hook_head_index``) as SAELens's activation store does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import sae_dashboard.feature_data_generator as feature_data_generator
from sae_dashboard.components_config import (
    ActsHistogramConfig,
    FeatureTablesConfig,
    SequencesConfig,
)
from sae_dashboard.layout import Column, SaeVisLayoutConfig
from sae_dashboard.transformer_lens_wrapper import TransformerLensWrapper, to_resid_direction
from sae_lens import SAE
from transformer_lens import HookedTransformer

from saelens_hierarchical.activation_cache import check_hook_width, sae_input

RESIDUAL_MARKERS = (
    "resid",
    "_out",
    "hook_mlp_in",
    "mlp.hook_in",
    "hook_z",
    "pre",
    "post",
    "hook_normalized",
)
"""Hook-name fragments ``to_resid_direction`` maps to the residual stream."""


def has_residual_direction(hook_name: str) -> bool:
    return any(marker in hook_name for marker in RESIDUAL_MARKERS)


def layout_without_logits() -> SaeVisLayoutConfig:
    """The feature-centric layout minus the logit table and histogram. Set on the runner's
    output before writing the page: the runner itself needs both logit configs."""
    return SaeVisLayoutConfig(
        columns=[
            Column(FeatureTablesConfig()),
            Column(ActsHistogramConfig()),
            Column(SequencesConfig(stack_mode="stack-none")),
        ],
        height=750,
    )


def hook_support(sae: SAE, model: HookedTransformer) -> Callable[[], AbstractContextManager[None]]:
    """What SAEDashboard runs in for this SAE, as a factory of fresh contexts (one per run):
    nothing for a residual-direction hook; otherwise ``non_residual_hook_support``, after
    checking once, here, that the SAE reads the hook as SAELens stores it."""
    if has_residual_direction(sae.cfg.metadata.hook_name):
        return nullcontext
    check_hook_width(sae, model)
    head_index = sae.cfg.metadata.hook_head_index
    return lambda: non_residual_hook_support(head_index)


@contextmanager
def non_residual_hook_support(head_index: int | None) -> Iterator[None]:
    """While open: 4-D activations reach the SAE flattened (or at ``head_index``), and latents
    of hooks with no residual direction get a zero logit direction (their panels are dropped)."""
    store_act = TransformerLensWrapper.hook_fn_store_act
    resid = feature_data_generator.to_resid_direction

    def store(self: Any, activation: Any, hook: Any) -> None:
        store_act(self, sae_input(activation, head_index), hook)

    def direction(dirs: Any, model: Any) -> Any:
        try:
            return to_resid_direction(dirs, model)
        except NotImplementedError:
            return dirs.new_zeros(dirs.shape[0], model.model.cfg.d_model)

    TransformerLensWrapper.hook_fn_store_act = store  # type: ignore[method-assign]
    feature_data_generator.to_resid_direction = direction  # type: ignore[assignment]
    try:
        yield
    finally:
        TransformerLensWrapper.hook_fn_store_act = store_act  # type: ignore[method-assign]
        feature_data_generator.to_resid_direction = resid

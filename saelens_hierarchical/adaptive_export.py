"""Rule (a) of ``saelens_hierarchical.adaptive`` as a stock SAELens ``"jumprelu"`` SAE.

A JumpReLU SAE keeps every latent whose pre-activation exceeds its threshold. With the decoder
norms folded into the encoder (so pre-activations are the rescaled activations the threshold
rule compares) and every per-latent threshold set to the rule's threshold, it keeps exactly the
latents the rule keeps, EXCEPT that it has no cap: where more than K latents clear the
threshold, the JumpReLU SAE keeps them all, the capped rule only the top K. ``cap_report``
measures how often that happens and what it does to explained variance.

The exported folder is plain SAELens (``SAE.load_from_disk`` returns a ``JumpReLUSAE``); it loads,
encodes and splices into a model without this package.
"""

from __future__ import annotations

import math
import os
import shutil
import warnings
from pathlib import Path
from typing import NamedTuple

import torch
from jaxtyping import Float
from sae_lens.saes.jumprelu_sae import JumpReLUSAE, JumpReLUSAEConfig

from saelens_hierarchical.adaptive import AnyTopK, ThresholdRule, adaptive_encode
from saelens_hierarchical.budget import max_budget
from saelens_hierarchical.config import ARCHITECTURE

__all__ = ["CapReport", "cap_report", "export_jumprelu", "to_jumprelu"]

SOURCE_K_KEY = "adaptive_source_max_k"
"""``cfg.metadata`` key of the exported SAE: the K of the SAE it came from."""


def _trained_hierarchical(sae: AnyTopK) -> bool:
    architecture = sae.cfg.architecture()
    return ARCHITECTURE in (architecture, sae.cfg.metadata.get("training_architecture"))


def to_jumprelu(sae: AnyTopK, rule: ThresholdRule) -> JumpReLUSAE:
    """A stock JumpReLU SAE that keeps the latents ``rule`` keeps, uncapped (module docstring).

    Warns when ``sae`` was not trained as hierarchical_topk: its prefixes were not trained to
    reconstruct, so a per-token budget may cut through a code that only works whole.
    """
    rule.check()
    if rule.threshold == 0:
        raise ValueError("threshold must be > 0 to export: at 0 every positive latent would fire")
    if not _trained_hierarchical(sae):
        warnings.warn(
            f"exporting a {sae.cfg.architecture()!r} SAE that was not trained as "
            f"{ARCHITECTURE!r}: its sorted prefixes were not trained to reconstruct",
            stacklevel=2,
        )
    fields = {**sae.cfg.to_dict(), "architecture": "jumprelu"}
    fields["metadata"] = {**fields.get("metadata", {}), SOURCE_K_KEY: max_budget(sae)}
    jump = JumpReLUSAE(JumpReLUSAEConfig.from_dict(fields))
    with torch.no_grad():
        norms = sae.W_dec.norm(dim=-1) if sae.cfg.rescale_acts_by_decoder_norm else None
        scale = torch.ones_like(sae.b_enc) if norms is None else norms
        # JumpReLU fires where pre > threshold; the rule keeps act >= threshold: the next float
        # below the threshold makes the two the same test.
        below = math.nextafter(rule.threshold, -math.inf)
        state = {
            "W_enc": sae.W_enc * scale,
            "b_enc": sae.b_enc * scale,
            "W_dec": sae.W_dec / scale[:, None],
            "b_dec": sae.b_dec.clone(),
            "threshold": torch.full_like(sae.b_enc, below),
        }
        jump.load_state_dict({k: v.to(jump.dtype) for k, v in state.items()})
    return jump


def export_jumprelu(sae: AnyTopK, rule: ThresholdRule, path: str | Path) -> Path:
    """Write ``to_jumprelu(sae, rule)`` as a SAELens folder (cfg.json + safetensors) at ``path``.

    The folder is written beside ``path`` and renamed into place, replacing an older export.
    """
    jump = to_jumprelu(sae, rule)
    final = Path(path)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        jump.save_model(tmp)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return final


class CapReport(NamedTuple):
    """The capped threshold rule against its uncapped JumpReLU export on the same tokens."""

    fraction_over_k: float
    """Tokens on which the JumpReLU export fires more than K latents."""
    mean_l0_capped: float
    """Mean latents per token of the rule (cap K)."""
    mean_l0_uncapped: float
    """Mean latents per token of the export."""
    max_l0_uncapped: int
    """Most latents the export fires on one token."""
    explained_variance_capped: float
    """1 - FVU of the rule's reconstruction."""
    explained_variance_uncapped: float
    """1 - FVU of the export's reconstruction."""


def _explained_variance(x: torch.Tensor, recon: torch.Tensor) -> float:
    return float(1 - (x - recon).pow(2).sum() / (x - x.mean(0)).pow(2).sum())


def cap_report(
    sae: AnyTopK, jump: JumpReLUSAE, x: Float[torch.Tensor, "batch d_in"], rule: ThresholdRule
) -> CapReport:
    """How often the uncapped export exceeds K on ``x``, and its EV against the capped rule."""
    capped = adaptive_encode(sae, x, rule)
    with torch.no_grad():
        acts = jump.encode(x)
        recon = jump.decode(acts)
    l0 = (acts != 0).sum(-1)
    return CapReport(
        fraction_over_k=float((l0 > max_budget(sae)).float().mean()),
        mean_l0_capped=float(capped.k.float().mean()),
        mean_l0_uncapped=float(l0.float().mean()),
        max_l0_uncapped=int(l0.max()),
        explained_variance_capped=_explained_variance(x, capped.sae_out),
        explained_variance_uncapped=_explained_variance(x, recon),
    )

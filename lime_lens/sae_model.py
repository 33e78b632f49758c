"""HookedSAELIMeTransformer: SAELens' SAE splicing on a LIMe model (by MRO, no new code)."""

from __future__ import annotations

from sae_lens import HookedSAETransformer  # type: ignore[import-untyped]

from lime_lens.model import HookedLIMeTransformer


class HookedSAELIMeTransformer(HookedSAETransformer, HookedLIMeTransformer):
    """MRO: HookedSAETransformer -> HookedLIMeTransformer -> HookedTransformer.

    ``add_sae`` swaps any HookPoint (``blocks.{l}.lime.hook_route``, ``attn.hook_k_raw``, ...)
    for an SAE wrapper; LIMe modules call their hooks by attribute, so the wrapper runs.
    """

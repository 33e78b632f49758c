"""An SAE on a LIMe route hook for the ecosystem tests: the hook and the SAE's latents on it."""

from __future__ import annotations

import torch

from saelens_hierarchical.budget import at_budget

ROUTE_HOOK = "blocks.2.lime.hook_route"
"""The tiny dynamic LIMe model's route at layer 2: [batch, pos, n_kv 4, n_src 3], read flattened
(d_in 12) as SAELens's activation store reads a 4-D hook."""


def route_feature_acts(sae, model, tokens, k):
    """The route SAE's latents at budget k: [batch, pos, d_sae], the 4-D hook flattened."""
    with torch.no_grad(), at_budget(sae, k):
        _, cache = model.run_with_cache(tokens, names_filter=[ROUTE_HOOK])
        return sae.encode(cache[ROUTE_HOOK].flatten(2))

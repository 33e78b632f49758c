"""SAEDashboard's feature-centric pages of one SAE at several budgets, rendering offline.

For each budget k the SAE is put at k (``at_budget``) and ``SaeVisRunner`` +
``save_feature_centric_vis`` write the stock page; its CDN scripts are then pointed at local
copies (``offline_assets``). ``index.html`` shows the budgets side by side. SAEs at hooks with
no residual direction (LIMe route hooks) get the page without logit panels (``route_hooks``).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from jaxtyping import Int
from sae_dashboard.data_writing_fns import save_feature_centric_vis
from sae_dashboard.sae_vis_data import SaeVisConfig
from sae_dashboard.sae_vis_runner import SaeVisRunner
from sae_lens import SAE
from torch import Tensor
from transformer_lens import HookedTransformer

from saelens_hierarchical.budget import at_budget
from saelens_hierarchical.ecosystem.offline_assets import copy_scripts, localize_page
from saelens_hierarchical.ecosystem.output_folder import atomic_folder
from saelens_hierarchical.ecosystem.route_hooks import (
    has_residual_direction,
    hook_support,
    layout_without_logits,
)
from saelens_hierarchical.ecosystem.sae_folder import check_budgets, check_features


@dataclass
class Dashboards:
    """What ``write_dashboards`` wrote."""

    index: Path
    """The page linking every budget side by side."""

    pages: dict[int, Path]
    """Budget -> that budget's feature-centric page."""


def page_name(k: int) -> str:
    return f"budget_{k}.html"


def _index_html(budgets: list[int], features: list[int], hook: str) -> str:
    frames = "\n".join(
        f'<div class="col"><h2><a href="{page_name(k)}">k = {k}</a></h2>'
        f'<iframe src="{page_name(k)}" title="budget {k}"></iframe></div>'
        for k in budgets
    )
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>SAE dashboards by budget</title>
<style>body{{font-family:sans-serif}} .row{{display:flex;gap:8px}}
.col{{flex:1;min-width:0}} iframe{{width:100%;height:900px;border:1px solid #ccc}}</style>
</head><body>
<h1>{html.escape(hook)}: features {features} at budgets {budgets}</h1>
<div class="row">
{frames}
</div>
</body></html>
"""


def write_dashboards(
    sae: SAE,
    model: HookedTransformer,
    tokens: Int[Tensor, "batch pos"],
    budgets: Sequence[int],
    features: Sequence[int],
    out_dir: str | Path,
    minibatch_size_tokens: int = 16,
) -> Dashboards:
    """One SAEDashboard feature-centric page per budget, plus ``index.html``, in ``out_dir``.

    ``tokens`` are the prompts the pages draw their top activations from (BOS-prefixed rows).
    The folder appears only when every page is written.
    """
    ks, feats = check_budgets(sae, budgets), check_features(sae, features)
    hook = sae.cfg.metadata.hook_name
    if hook not in model.hook_dict:
        raise ValueError(f"the SAE's hook_name {hook!r} is not a hook of the model")
    residual = has_residual_direction(hook)
    support = hook_support(sae, model)  # checks the hook width before any page is written
    with atomic_folder(out_dir) as tmp:
        for k in ks:
            cfg = SaeVisConfig(
                hook_point=hook,
                features=feats,
                minibatch_size_features=len(feats),
                minibatch_size_tokens=minibatch_size_tokens,
                device=str(tokens.device),
            )
            with at_budget(sae, k), torch.no_grad(), support():  # type: ignore[arg-type]
                data = SaeVisRunner(cfg).run(encoder=sae, model=model, tokens=tokens)
            if not residual:
                data.cfg.feature_centric_layout = layout_without_logits()
            page = tmp / page_name(k)
            save_feature_centric_vis(data, page)
            page.write_text(localize_page(page.read_text()))
        copy_scripts(tmp)
        (tmp / "index.html").write_text(_index_html(ks, feats, hook))
        (tmp / "dashboards.json").write_text(
            json.dumps({"hook_name": hook, "budgets": ks, "features": feats}, indent=2) + "\n"
        )
    out = Path(out_dir)
    return Dashboards(index=out / "index.html", pages={k: out / page_name(k) for k in ks})

"""Render ``htopk_pareto.md`` and its figures from the runs' JSON alone.

    python -m experiments.htopk_pareto.render

The page is fixed wording (claim, method, the pre-registrations in ``preregistration_*.md``, the
adaptive design in ``design_adaptive.md``) around sentences and tables whose every number comes
from the runs' JSON. ``python -m experiments.rerender --check`` fails when the committed page or
a figure differs from this rendering.
"""

from __future__ import annotations

from pathlib import Path

from experiments.common import Rendered
from experiments.htopk_pareto import (
    render_adaptive,
    render_dsae_default,
    render_dsae_scaling,
    render_investigation,
    render_main,
    render_readings,
)
from experiments.htopk_pareto.main_runs import main_runs

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "htopk_pareto.md"

HEAD = """\
# HierarchicalTopK vs TopK at every budget: does one SAE match a family?

Two later studies follow below: [the d_sae-scaling experiment](#does-the-gap-shrink-or-flip-as-the-dictionary-grows-d_sae-scaling-pre-registered)
(pre-registered; synthetic data and the default model) and [adaptive per-token budgets](#adaptive-per-token-budgets-one-hierarchicaltopk-sae-kx--k-per-token).
Every number on this page is rendered from the runs' JSON by `python -m experiments.htopk_pareto.render`.

**Claim under test** (Balagansky et al. 2025, arXiv 2505.24473, abstract and Fig. 3): one HierarchicalTopK SAE
trained at K is Pareto-optimal against TopK SAEs trained separately at each budget, i.e.
`EV(hierarchical at k) - EV(TopK trained at k) >= 0` for every k <= K (and the same for MCC on ground truth).
"""

SETUP = """\
## Setup

- Every SAE of a run is trained **in lockstep on identical activations** (SAELens `MultiSAETrainingRunner`, or its
  `MultiSAETrainer` for synthetic samples and for the SmolLM2 activation cache), with the same optimiser (Adam,
  constant lr), AuxK, `expected_average_only_in` input scaling (folded in after training), and an initialisation
  that depends only on (seed, SAE name).
- Peers: `hierarchical_topk` at K; `multi_topk` at K (OpenAI Multi-TopK, `L(K) + L(4K)/8`); stock SAELens `topk`,
  `batchtopk` and `matryoshka_batchtopk` (widths d_sae/8, /4, /2, 1) trained at each budget k.
- Evaluation: `saelens_hierarchical.sweep` runs SAELens `run_evals` once per (SAE, budget) on the **same held-out
  tokens** (a fresh `ActivationsStore` each time; validation split = last 5% of each Austen novel, BOS positions
  excluded). Single SAEs (`hierarchical_topk`, `multi_topk`) are evaluated at every budget with
  `saelens_hierarchical.at_budget`; the per-budget peers at their own k. Synthetic: `eval_sae_on_synthetic_data`
  on the same held-out samples for every row (the `true_l0` column is identical in every row).
- Machine specification and wall time: not recorded in these runs' JSON (they predate the provenance block);
  float32 on CPU. For synthetic runs the "tokens" of the training column are samples.
"""

RAW = """\
Raw tables (every metric: L0, EV, MSE, cosine, CE-loss score, KL score, dead and dense latents; MCC, F1, precision,
recall, uniqueness for synthetic) and frontier plots are in `experiments/htopk_pareto/<run>/`
(`comparison.csv`/`.json`, `differences.csv`, `frontier.png`; synthetic: `synthetic*.csv`/`.json`/`.png`).
"""

DSAE_HEAD = """\
## Does the gap shrink or flip as the dictionary grows? (d_sae scaling, pre-registered)

*Written and committed before the run; the tables below it are rendered from the run's JSON.*
"""

DSAE_RESULTS = """\
### Results

Rendered from `experiments/htopk_pareto/dsae_scaling/scaling*.json`. Seed 1 ran as a second launch of the same
command with `--seeds 1`, writing `scaling_seed1.json`. The curve probe also records the 20 batches of SAELens's
input-norm estimate as step 0; the renderer keeps one of them.
"""


def _read(name: str) -> str:
    return (HERE / name).read_text().rstrip("\n")


def page() -> str:
    runs = main_runs()
    scaling = render_dsae_scaling.load_runs()
    default = render_dsae_default.load_runs()
    default_diffs = render_dsae_default.differences(default)
    largest = int(max(default_diffs["ratio"].max(), max(r["d_sae"] for r in scaling)))
    sections = [
        HEAD,
        render_main.verdict(runs),
        "",
        SETUP,
        *render_main.setup_table(runs),
        "",
        RAW,
        "## EV(hierarchical at k) - EV(TopK trained at k)",
        "",
        "Bold: negative in every run of that data source at that k.",
        "",
        *render_main.ev_table(runs),
        "",
        render_main.ce_line(runs),
        "",
        "## MCC(hierarchical) - MCC(TopK trained at k), synthetic ground truth",
        "",
        *render_main.mcc_table(runs),
        "",
        "## Where it fails, and why (investigation)",
        "",
        *[item + "\n" for item in render_investigation.investigation(runs, largest)],
        "## SmolLM2 caveats (numbers, not a conclusion)",
        "",
        *render_investigation.smollm2_caveats(runs),
        "",
        DSAE_HEAD,
        _read("preregistration_dsae_scaling.md"),
        "",
        DSAE_RESULTS,
        render_dsae_scaling.render(scaling),
        "",
        render_readings.dsae_scaling(scaling),
        "",
        "### Default model: d_sae 512 / 2,048 / 4,096",
        "",
        _read("preregistration_dsae_default.md"),
        "",
        render_dsae_default.render(default),
        "",
        render_readings.dsae_default(default_diffs),
        "",
        "## Adaptive per-token budgets (one HierarchicalTopK SAE, k(x) <= K per token)",
        "",
        _read("design_adaptive.md"),
        "",
        render_adaptive.render(),
        "",
        render_readings.adaptive(),
        "",
    ]
    return "\n".join(sections)


def rendered() -> list[Rendered]:
    """``htopk_pareto.md``, the d_sae plots and the d_sae-scaling CSV."""
    scaling_runs = render_dsae_scaling.load_runs()
    scaling_diffs = render_dsae_scaling.differences(scaling_runs)
    default_runs = render_dsae_default.load_runs()
    return [
        Rendered(RESULTS, page()),
        Rendered(
            render_dsae_scaling.RUN_DIR / "dsae_scaling.csv", scaling_diffs.to_csv(index=False)
        ),
        Rendered(
            render_dsae_scaling.RUN_DIR / "dsae_scaling.png",
            render_dsae_scaling.plot(scaling_diffs, scaling_runs),
        ),
        Rendered(
            render_dsae_default.RUN_DIR / "dsae_default.png",
            render_dsae_default.plot(render_dsae_default.differences(default_runs)),
        ),
    ]


def main() -> None:
    for file in rendered():
        if file.differs():
            file.write()
            print(f"wrote {file.path}")


if __name__ == "__main__":
    main()

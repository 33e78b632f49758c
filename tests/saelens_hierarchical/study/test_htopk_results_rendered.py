"""results/htopk_pareto.md quotes the d_sae-scaling (synthetic and default model) and adaptive-budget
blocks rendered from the committed run JSON (scripts/render_htopk_*.py), not hand-typed numbers."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

import render_htopk_adaptive  # noqa: E402
import render_htopk_dsae_default  # noqa: E402
import render_htopk_dsae_scaling  # noqa: E402

RESULTS = (ROOT / "results" / "htopk_pareto.md").read_text()


def test_results_file_quotes_the_dsae_scaling_block_rendered_from_its_json():
    assert render_htopk_dsae_scaling.render(render_htopk_dsae_scaling.load_runs()) in RESULTS


def test_results_file_quotes_the_default_model_dsae_block_rendered_from_its_runs():
    runs = render_htopk_dsae_default.load_runs()
    assert render_htopk_dsae_default.render(runs) in RESULTS


def test_results_file_quotes_the_adaptive_block_rendered_from_its_json():
    assert render_htopk_adaptive.render() in RESULTS


def test_decision_rule_reads_flip_shrink_and_persist_as_pre_registered():
    import pandas as pd

    rows = []
    for seed, spread in ((0, -0.001), (1, 0.001)):
        for k, small, large in ((2, -0.03, -0.01), (4, -0.02, 0.002), (16, -0.01, -0.03)):
            rows += [
                {"k": k, "seed": seed, "ratio": 0.25, "ev_diff": small + spread},
                {"k": k, "seed": seed, "ratio": 4.0, "ev_diff": large + spread},
            ]
    per_k, answer = render_htopk_dsae_scaling.verdict(pd.DataFrame(rows), 16)
    assert per_k == {2: "shrinks", 4: "flips", 16: "persists"} and answer == "mixed"

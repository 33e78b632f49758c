"""experiments/htopk_pareto/htopk_pareto.md quotes the d_sae-scaling (synthetic and default model)
and adaptive-budget blocks rendered from the committed run JSON (``experiments.htopk_pareto.render_*``),
not hand-typed numbers."""

from experiments.htopk_pareto import render_adaptive as render_htopk_adaptive
from experiments.htopk_pareto import render_dsae_default as render_htopk_dsae_default
from experiments.htopk_pareto import render_dsae_scaling as render_htopk_dsae_scaling
from experiments.htopk_pareto.render_dsae_scaling import RESULTS as RESULTS_PATH

RESULTS = RESULTS_PATH.read_text()


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


def test_the_whole_page_is_its_rendering_from_the_runs_json():
    from experiments.htopk_pareto.render import page

    assert page() == RESULTS


def test_a_budget_negative_in_every_run_reads_as_a_consistent_deficit_not_a_tie():
    """Synthetic k=8 is negative in all three runs (issue 24): the verdict must not call it a tie."""
    from experiments.htopk_pareto.main_runs import k_class, main_runs, source_runs
    from experiments.htopk_pareto.render_main import verdict

    runs = main_runs()
    word, diffs = k_class(source_runs(runs, "synthetic data"), 8)
    assert word == "negative" and all(d < 0 for d in diffs)
    text = verdict(runs)
    deficits = text.split("small but consistent deficits")[0]
    assert "k = 8 on the synthetic data" in deficits.split("negative in every run at")[1]
    assert "k = 8 on the synthetic data" not in text.split("changes sign between runs at")[1]

"""Ground-truth comparison: every method and budget sees the same held-out sample; MCC is W_dec's."""

import pytest
import torch
from sae_lens.synthetic import (
    HierarchyConfig,
    SyntheticModel,
    SyntheticModelConfig,
    ZipfianFiringProbabilityConfig,
)

from saelens_hierarchical.study.baselines import BaselineConfig
from saelens_hierarchical.study.synthetic import (
    SyntheticComparisonConfig,
    paper_scale_config,
    run_synthetic_comparison,
    sample_stream,
    small_config,
)


def _tiny() -> SyntheticComparisonConfig:
    model = SyntheticModelConfig(
        num_features=48,
        hidden_dim=16,
        firing_probability=ZipfianFiringProbabilityConfig(
            exponent=0.7, max_prob=0.3, min_prob=0.02
        ),
        hierarchy=HierarchyConfig(
            total_root_nodes=4, branching_factor=3, max_depth=1, mutually_exclusive_portion=0.5
        ),
        bias=False,
        seed=0,
    )
    return SyntheticComparisonConfig(
        model=model,
        eval_samples=2000,
        baselines=BaselineConfig(
            d_sae=32,
            K=4,
            budgets=[1, 2, 4],
            training_tokens=128 * 30,
            train_batch_size_tokens=128,
            dead_feature_window=10,
        ),
    )


def test_sample_stream_is_reproducible_and_leaves_global_rng_alone():
    model = SyntheticModel(_tiny().model)
    torch.manual_seed(7)
    before = torch.get_rng_state()
    a, b = sample_stream(model, 8, seed=3), sample_stream(model, 8, seed=3)
    first = [next(a) for _ in range(3)]
    torch.testing.assert_close(first, [next(b) for _ in range(3)])
    assert not torch.equal(first[0], first[1])
    torch.testing.assert_close(torch.get_rng_state(), before)


def test_synthetic_comparison_scores_every_method_on_one_held_out_sample(tmp_path):
    out = run_synthetic_comparison(_tiny(), tmp_path)
    table = out.table
    assert set(table["method"]) == {
        "hierarchical_topk",
        "multi_topk",
        "topk",
        "batchtopk",
        "matryoshka_batchtopk",
    }
    # true L0 depends only on the held-out sample: equal everywhere means one shared sample.
    torch.testing.assert_close(table["true_l0"].min(), table["true_l0"].max())
    hier = table[table["method"] == "hierarchical_topk"]
    assert list(hier["budget"]) == [1, 2, 4] and (hier["l0"] <= hier["budget"] + 1e-9).all()
    # MCC is a property of W_dec alone, so one SAE has one MCC at every budget.
    torch.testing.assert_close(hier["mcc"].min(), hier["mcc"].max())
    diffs = out.differences
    assert set(diffs["metric"]) == {"explained_variance", "mcc", "f1"}
    ev = diffs[diffs["metric"] == "explained_variance"].set_index("budget")["difference"]
    topk = table[table["method"] == "topk"].set_index("budget")["explained_variance"]
    torch.testing.assert_close(
        float(ev[2]), float(hier.set_index("budget")["explained_variance"][2] - topk[2])
    )
    assert out.plot_png.exists() and out.table_csv.exists()


@pytest.mark.parametrize("factory", [small_config, paper_scale_config])
def test_documented_configs_are_valid_and_hierarchical_with_zipfian_firing(factory):
    cfg = factory()
    assert cfg.model.hierarchy is not None
    assert isinstance(cfg.model.firing_probability, ZipfianFiringProbabilityConfig)
    assert max(cfg.baselines.budgets) == cfg.baselines.K


def test_synthetic_config_rejects_empty_eval_sample():
    with pytest.raises(ValueError, match="eval_samples"):
        SyntheticComparisonConfig(model=_tiny().model, baselines=_tiny().baselines, eval_samples=0)

import pandas as pd
import pytest
import torch

from lime_lens.analysis.report import load_saved_model, main
from lime_lens.serialization import save_model

from .helpers import random_tokens, tiny_lime, tiny_vanilla


def test_report_loads_saved_lime_and_vanilla_models_with_their_own_class_and_weights(tmp_path):
    tokens = random_tokens()
    for name, model in {
        "lime": tiny_lime("residual", "dynamic"),
        "vanilla": tiny_vanilla(),
    }.items():
        save_model(model, tmp_path / name)
        loaded = load_saved_model(tmp_path / name)
        assert type(loaded) is type(model) and type(loaded.cfg) is type(model.cfg)
        torch.testing.assert_close(loaded(tokens), model(tokens))


@pytest.mark.slow
def test_report_cli_writes_every_figure_and_table_and_the_route_sae_keeps_each_budget(tmp_path):
    """``python -m lime_lens.analysis.report`` on the shipped tiny models, small corpora: every
    analysis runs, and the route SAE's sweep has mean L0 equal to each budget (a HierarchicalTopK
    SAE at budget k keeps exactly k latents per token)."""
    out = tmp_path / "report"
    main(["--n-seq", "32", "--probe-rows", "1000", "--out", str(out)])
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            *(f"{n}.csv" for n in REPORT_TABLES),
            *(f"{n}.png" for n in REPORT_FIGURES),
        ]
    )
    sweep = pd.read_csv(out / "sae_sweep.csv")
    assert sweep["budget"].tolist() == [1, 2, 4, 8]
    torch.testing.assert_close(
        torch.tensor(sweep["l0"].to_numpy()),
        torch.tensor([1.0, 2.0, 4.0, 8.0], dtype=torch.float64),
    )


REPORT_TABLES = (
    "ablation_top",
    "circuits",
    "entropy",
    "entropy_std",
    "probe",
    "routing_per_layer",
    "sae_sweep",
)
REPORT_FIGURES = (
    "entropy_per_layer",
    "kv_decomposition",
    "probe_accuracy",
    "route_ablation",
    "routing_heatmap",
    "routing_per_head",
    "sae_budget_sweep",
)

"""``python -m saelens_hierarchical compare``: target dispatch, printed paths, validated overrides."""

import pandas as pd
import pytest

from saelens_hierarchical import __main__ as entry
from saelens_hierarchical.study import cli
from saelens_hierarchical.study.baselines import BaselineConfig
from saelens_hierarchical.study.cli import _override
from saelens_hierarchical.study.result import ComparisonResult


def test_cli_compare_runs_the_chosen_target_and_prints_where_results_are(
    monkeypatch, capsys, tmp_path
):
    calls = []
    fake = ComparisonResult(
        table=pd.DataFrame(),
        differences=pd.DataFrame({"budget": [4], "difference": [0.01]}),
        table_json=tmp_path / "table_json.x",
        sae_dirs={},
        **{
            k: tmp_path / f"{k}.x"
            for k in ("table_csv", "differences_csv", "plot_png", "plot_html")
        },
    )
    monkeypatch.setattr(cli, "_run", lambda *args: calls.append(args) or fake)
    assert (
        cli.main(
            [
                "compare",
                "--target",
                "synthetic",
                "--out",
                str(tmp_path),
                "--seed",
                "3",
                "--methods",
                "hierarchical_topk,topk",
            ]
        )
        == 0
    )
    assert calls == [
        (
            "synthetic",
            "demo",
            tmp_path,
            {"seed": 3, "methods": ("hierarchical_topk", "topk"), "training_tokens": None},
        )
    ]
    printed = capsys.readouterr().out
    assert f"plot_png: {tmp_path / 'plot_png.x'}" in printed and "0.01" in printed
    with pytest.raises(SystemExit):
        cli.main(["compare", "--target", "nope", "--out", str(tmp_path)])


def test_cli_overrides_are_validated_like_the_config():
    cfg = BaselineConfig(d_sae=32, K=4, budgets=[2, 4])
    _override(cfg, {"seed": 5, "methods": ("topk",), "training_tokens": None})
    assert cfg.seed == 5 and cfg.methods == ("topk",) and cfg.training_tokens == 500_000
    with pytest.raises(ValueError, match="methods"):
        _override(cfg, {"methods": ("nope",)})


def test_python_m_entry_point_hands_its_arguments_to_the_study_cli(monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "main", lambda argv: seen.append(argv) or 0)
    assert entry.main(["compare", "--out", "x"]) == 0
    assert seen == [["compare", "--out", "x"]]

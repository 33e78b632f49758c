"""``compare --scale adaptive`` and ``--lr-decay-fraction``: dispatch and validation."""

import pandas as pd
import pytest

from saelens_hierarchical.study import cli
from saelens_hierarchical.study.baselines import BaselineConfig
from saelens_hierarchical.study.cli import _override
from saelens_hierarchical.study.comparison import PRESETS, adaptive_config
from saelens_hierarchical.study.result import ComparisonResult


def test_lr_decay_d_sae_and_paired_init_are_passed_only_when_given(monkeypatch, tmp_path):
    calls = []
    fake = ComparisonResult(
        pd.DataFrame(),
        pd.DataFrame({"budget": [2], "difference": [0.0]}),
        *(tmp_path / f"{n}.x" for n in ("csv", "json", "dcsv", "png", "html")),
        {},
    )
    monkeypatch.setattr(cli, "_run", lambda *args: calls.append(args) or fake)
    argv = ["compare", "--scale", "adaptive", "--out", str(tmp_path)]
    cli.main([*argv, "--lr-decay-fraction", "0.2"])
    assert calls[-1][1] == "adaptive" and calls[-1][3]["lr_decay_fraction"] == 0.2
    cli.main(argv)
    assert "lr_decay_fraction" not in calls[-1][3]
    cli.main([*argv, "--d-sae", "2048", "--paired-init"])
    assert calls[-1][3]["d_sae"] == 2048 and calls[-1][3]["paired_init"] is True


def test_lr_decay_fraction_outside_0_1_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"lr_decay_fraction must be in \[0, 1\]"):
        _override(BaselineConfig(d_sae=32, K=4, budgets=[2, 4]), {"lr_decay_fraction": 1.5})


def test_lr_decay_steps_cover_the_final_fraction_of_steps():
    cfg = BaselineConfig(
        d_sae=32, K=4, budgets=[4], training_tokens=100 * 128, train_batch_size_tokens=128
    )
    assert cfg.lr_decay_steps == 0
    cfg.lr_decay_fraction = 0.2
    assert cfg.lr_decay_steps == 20
    cfg.lr_decay_fraction = 1.0
    assert cfg.lr_decay_steps == 99  # SAELens needs one step before the decay starts


def test_adaptive_preset_evaluates_every_budget_adaptively():
    cfg = adaptive_config()
    assert PRESETS["adaptive"] is adaptive_config
    assert cfg.adaptive_targets == cfg.baselines.budgets == [2, 4, 8, 16]
    assert cfg.baselines.K == 16 and "batchtopk" in cfg.baselines.methods

"""The console entry point: SAELens's CLI with hierarchical_topk among its architectures."""

from __future__ import annotations

import builtins

import pytest
import sae_lens.llm_sae_training_runner as runner_module

from saelens_hierarchical import HierarchicalTopKTrainingSAEConfig, cli


def test_cli_parses_hierarchical_topk_fields_and_runs_the_stock_runner(monkeypatch):
    seen = {}

    class FakeRunner:
        def __init__(self, cfg):
            seen["cfg"] = cfg

        def run(self):
            seen["ran"] = True

    monkeypatch.setattr(runner_module, "LanguageModelSAETrainingRunner", FakeRunner)
    cli.main(
        [
            "--architecture",
            "hierarchical_topk",
            "--d_in",
            "16",
            "--d_sae",
            "64",
            "--k",
            "8",
            "--budgets",
            "2",
            "4",
            "8",
            "--loss_impl",
            "reference",
            "--model_name",
            "tiny",
            "--hook_name",
            "blocks.0.hook_resid_post",
            "--dataset_path",
            "x",
        ]
    )
    sae_cfg = seen["cfg"].sae
    assert seen["ran"]
    assert type(sae_cfg) is HierarchicalTopKTrainingSAEConfig
    assert (sae_cfg.d_sae, sae_cfg.k, sae_cfg.budgets, sae_cfg.loss_impl) == (
        64,
        8,
        [2, 4, 8],
        "reference",
    )


def test_cli_validation_errors_name_the_field(monkeypatch):
    monkeypatch.setattr(runner_module, "LanguageModelSAETrainingRunner", None)
    with pytest.raises(ValueError, match="k must be <= d_sae"):
        cli.main(
            ["--architecture", "hierarchical_topk", "--d_in", "16", "--d_sae", "8", "--k", "9"]
        )


def test_cli_explains_a_moved_private_saelens_entry_point(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "sae_lens.llm_sae_training_runner" and fromlist and "_run_cli" in fromlist:
            raise ImportError("cannot import name '_run_cli'")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="no longer has"):
        cli.main(["--help"])

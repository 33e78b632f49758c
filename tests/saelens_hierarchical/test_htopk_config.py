"""Config flag: validation naming the field, JSON round trip, registration, inference class."""

from __future__ import annotations

import importlib
import json

import pytest
from sae_lens.registry import SAE_TRAINING_CLASS_REGISTRY, get_sae_training_class
from sae_lens.saes.sae import TrainingSAEConfig
from sae_lens.saes.topk_sae import TopKSAEConfig

import saelens_hierarchical
from saelens_hierarchical import HierarchicalTopKTrainingSAE, HierarchicalTopKTrainingSAEConfig


def _cfg(**kw):
    return HierarchicalTopKTrainingSAEConfig(**{"d_in": 8, "d_sae": 32, "k": 8, **kw})


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"k": 33}, "k must be <= d_sae"),
        ({"k": 0}, "k must be >= 1"),
        ({"k": 2.5}, "k must be an int"),
        ({"budgets": [0, 4]}, "budgets must hold ints in 1..k=8"),
        ({"budgets": [4, 9]}, "budgets must hold ints in 1..k=8"),
        ({"budgets": [4, 2]}, "budgets must be strictly increasing"),
        ({"budgets": []}, "budgets must be None or non-empty"),
        (
            {"budgets": [2, 4], "budget_weights": [1.0]},
            "budget_weights needs one weight per budget",
        ),
        ({"budget_weights": [1.0] * 7}, "budget_weights needs one weight per budget"),
        (
            {"budgets": [2, 4], "budget_weights": [1.0, -1.0]},
            "budget_weights must be finite and >= 0",
        ),
        (
            {"budgets": [2, 4], "budget_weights": [0.0, 0.0]},
            "budget_weights must have a positive sum",
        ),
        ({"explained_variance_budgets": [16]}, "explained_variance_budgets must hold ints"),
        ({"normalize_activations": "layer_norm"}, "normalize_activations='layer_norm'"),
        (
            {"normalize_activations": "constant_norm_rescale"},
            "normalize_activations='constant_norm_rescale'",
        ),
        ({"loss_impl": "cuda"}, "loss_impl must be one of"),
    ],
)
def test_invalid_config_raises_value_error_naming_the_field(kwargs, field, unchecked):
    with pytest.raises(ValueError, match=field.replace("(", r"\(").replace("[", r"\[")):
        _cfg(**kwargs)


@pytest.mark.parametrize("mode", ["none", "expected_average_only_in", "covariance_whitening"])
def test_compatible_normalizations_are_accepted(mode):
    assert _cfg(normalize_activations=mode).normalize_activations == mode


def test_config_survives_json_round_trip_through_the_training_registry():
    cfg = _cfg(budgets=[1, 2, 8], budget_weights=[1.0, 2.0, 1.0], explained_variance_budgets=[2, 8])
    restored = TrainingSAEConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert type(restored) is HierarchicalTopKTrainingSAEConfig
    assert restored.to_dict() == cfg.to_dict()


def test_tuples_are_stored_as_lists_so_the_round_trip_is_exact(unchecked):
    cfg = _cfg(budgets=(2, 8))
    assert cfg.budgets == [2, 8]


def test_prefix_weights_default_to_the_uniform_mean_and_follow_budgets():
    assert _cfg(k=4, d_sae=8).prefix_weights() == [0.25] * 4
    assert _cfg(k=4, d_sae=8, budgets=[2, 4], budget_weights=[3.0, 1.0]).prefix_weights() == [
        0.0,
        0.75,
        0.0,
        0.25,
    ]


def test_logged_budgets_default_to_k_over_8_4_2_1():
    assert _cfg(k=64, d_sae=128).logged_budgets() == [8, 16, 32, 64]
    assert _cfg(k=2, d_sae=8).logged_budgets() == [1, 2]


def test_inference_config_is_stock_topk_and_metadata_records_k_and_architecture():
    cfg = _cfg()
    assert cfg.get_inference_config_class() is TopKSAEConfig
    saved = cfg.get_inference_sae_cfg_dict()
    assert saved["architecture"] == "topk"
    assert saved["k"] == 8
    assert saved["metadata"]["training_architecture"] == "hierarchical_topk"
    assert saved["metadata"]["hierarchical_max_k"] == 8


def test_import_registers_hierarchical_topk_once_and_reload_is_safe():
    assert get_sae_training_class("hierarchical_topk") == (
        HierarchicalTopKTrainingSAE,
        HierarchicalTopKTrainingSAEConfig,
    )
    before = len(SAE_TRAINING_CLASS_REGISTRY)
    importlib.reload(saelens_hierarchical)
    importlib.reload(saelens_hierarchical)
    assert len(SAE_TRAINING_CLASS_REGISTRY) == before
    assert (
        get_sae_training_class("hierarchical_topk")[0]
        is saelens_hierarchical.HierarchicalTopKTrainingSAE
    )


def test_registration_refuses_to_overwrite_a_foreign_class(monkeypatch):
    monkeypatch.setitem(SAE_TRAINING_CLASS_REGISTRY, "hierarchical_topk", (dict, dict))
    with pytest.raises(ValueError, match="already registered"):
        saelens_hierarchical._register()

import re

import pytest
import torch
from transformer_lens import HookedTransformer

from lime_lens import HookedLIMeTransformer
from lime_lens.assets import load_corpus
from lime_lens.assets.dataset import tokenize_rows
from lime_lens.assets.pretrained import (
    load_tiny_baseline_model,
    load_tiny_dynamic_model,
    load_tiny_lime_model,
    tiny_model_metrics,
)
from lime_lens.train.architectures import ModelShape, build_model, count_params
from lime_lens.train.tiny_recipe import (
    MATCHED_ARCHES,
    TINY_CONTEXT_SIZE,
    TINY_SHAPE,
    TINY_TRAIN,
    matched_baseline_shape,
)

ROUTE = re.compile(r"\.lime\.route")
LIME_CHECKPOINTS = {
    "lime": ("lime-kv", "kv", "static", "route"),
    "dynamic": ("lime-residual-dynamic", "residual", "dynamic", "route_proj.weight"),
}
"""Shipped LIMe checkpoint -> (architecture, lime_mode, lime_lookup, router parameter)."""


@pytest.fixture(scope="module")
def models():
    return {
        "lime": load_tiny_lime_model(),
        "dynamic": load_tiny_dynamic_model(),
        "vanilla": load_tiny_baseline_model(),
    }


@pytest.mark.parametrize("which", sorted(LIME_CHECKPOINTS))
def test_shipped_lime_model_loads_strictly_with_its_router(models, which):
    lime = models[which]
    assert type(lime) is HookedLIMeTransformer
    arch, mode, lookup, router = LIME_CHECKPOINTS[which]
    assert (lime.cfg.lime_mode, lime.cfg.lime_lookup) == (mode, lookup)
    assert tiny_model_metrics(which)["arch"] == arch
    routers = [name for name, _ in lime.named_parameters() if ROUTE.search(name)]
    assert routers == [f"blocks.{layer}.lime.{router}" for layer in range(1, lime.cfg.n_layers)]


def test_shipped_baseline_loads_strictly_as_vanilla(models):
    vanilla = models["vanilla"]
    assert type(vanilla) is HookedTransformer
    assert not [name for name, _ in vanilla.named_parameters() if ".lime." in name]


@pytest.mark.parametrize("which", ["lime", "dynamic", "vanilla"])
def test_shipped_model_has_the_bpe_tokenizer_attached(models, which):
    model = models[which]
    assert len(model.tokenizer) == model.cfg.d_vocab == 4096
    assert model.to_string(model.to_tokens("Mr. Darcy", prepend_bos=False)[0]) == "Mr. Darcy"


@pytest.mark.parametrize("which", sorted(LIME_CHECKPOINTS))
def test_shipped_lime_model_matches_the_baseline_parameter_count_within_one_percent(models, which):
    counts = {name: count_params(models[name]) for name in (which, "vanilla")}
    assert counts == {name: tiny_model_metrics(name)["n_params"] for name in counts}
    assert abs(counts[which] - counts["vanilla"]) / counts["vanilla"] < 0.01
    assert tiny_model_metrics(which)["tokens_seen"] == tiny_model_metrics("vanilla")["tokens_seen"]


def test_matched_baseline_is_within_one_percent_of_every_lime_variant_and_the_shipped_one():
    shape = matched_baseline_shape(4096)
    assert {k: v for k, v in shape.items() if k != "d_mlp"} == {
        k: v for k, v in TINY_SHAPE.items() if k != "d_mlp"
    }
    vanilla = count_params(build_model("vanilla", ModelShape(**shape), 4096))
    for arch in MATCHED_ARCHES:
        lime = count_params(build_model(arch, ModelShape(**TINY_SHAPE), 4096))
        assert abs(lime - vanilla) / vanilla < 0.01
    assert shape == tiny_model_metrics("vanilla")["model_shape"]


@pytest.mark.parametrize("which", ["lime", "dynamic", "vanilla"])
def test_recorded_validation_loss_is_reproduced_on_the_validation_split(models, which):
    model, metrics = models[which], tiny_model_metrics(which)
    rows = tokenize_rows(load_corpus("validation"), model.tokenizer, TINY_CONTEXT_SIZE)
    assert rows.shape[0] == metrics["validation_rows"]
    with torch.no_grad():
        losses = [model(batch, return_type="loss") * batch.shape[0] for batch in rows.split(64)]
    torch.testing.assert_close(
        torch.stack(losses).sum().item() / rows.shape[0], metrics["val_loss"], rtol=0, atol=1e-4
    )


def test_the_recipe_is_the_one_the_shipped_models_recorded():
    """(``lime_lens.analysis.report``'s stand-in imports the same module: one copy of the recipe.)"""
    for which in ("lime", "dynamic", "vanilla"):
        metrics = tiny_model_metrics(which)
        assert metrics["context_size"] == TINY_CONTEXT_SIZE
        assert {k: metrics["train_config"][k] for k in TINY_TRAIN} == TINY_TRAIN
    assert tiny_model_metrics("lime")["model_shape"] == TINY_SHAPE

import re

import pytest
import torch
from transformer_lens import HookedTransformer

from lime_lens import HookedLIMeTransformer
from lime_lens.assets import load_corpus
from lime_lens.assets.pretrained import (
    MATCHED_ARCHES,
    TINY_CONTEXT_SIZE,
    TINY_SHAPE,
    load_tiny_baseline_model,
    load_tiny_lime_model,
    matched_baseline_shape,
    tiny_model_metrics,
)
from lime_lens.train.architectures import ModelShape, build_model, count_params
from lime_lens.train.data import tokenize_rows

ROUTE = re.compile(r"\.lime\.route")


@pytest.fixture(scope="module")
def models():
    return {"lime": load_tiny_lime_model(), "vanilla": load_tiny_baseline_model()}


def test_shipped_models_load_strictly_as_lime_and_vanilla_with_bpe_tokenizer(models):
    lime, vanilla = models["lime"], models["vanilla"]
    assert type(lime) is HookedLIMeTransformer and lime.cfg.lime_mode == "kv"
    assert type(vanilla) is HookedTransformer
    routers = [name for name, _ in lime.named_parameters() if ROUTE.search(name)]
    assert routers == [f"blocks.{layer}.lime.route" for layer in range(1, lime.cfg.n_layers)]
    assert not [name for name, _ in vanilla.named_parameters() if ".lime." in name]
    for model in (lime, vanilla):
        assert len(model.tokenizer) == model.cfg.d_vocab == 4096
        assert model.to_string(model.to_tokens("Mr. Darcy", prepend_bos=False)[0]) == "Mr. Darcy"


def test_shipped_pair_has_equal_parameter_count_within_one_percent(models):
    counts = {which: count_params(model) for which, model in models.items()}
    assert counts == {which: tiny_model_metrics(which)["n_params"] for which in counts}
    assert abs(counts["lime"] - counts["vanilla"]) / counts["vanilla"] < 0.01
    assert tiny_model_metrics("lime")["tokens_seen"] == tiny_model_metrics("vanilla")["tokens_seen"]


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


@pytest.mark.parametrize("which", ["lime", "vanilla"])
def test_recorded_validation_loss_is_reproduced_on_the_validation_split(models, which):
    model, metrics = models[which], tiny_model_metrics(which)
    rows = tokenize_rows(load_corpus("validation"), model.tokenizer, TINY_CONTEXT_SIZE)
    assert rows.shape[0] == metrics["validation_rows"]
    with torch.no_grad():
        losses = [model(batch, return_type="loss") * batch.shape[0] for batch in rows.split(64)]
    torch.testing.assert_close(
        torch.stack(losses).sum().item() / rows.shape[0], metrics["val_loss"], rtol=0, atol=1e-4
    )

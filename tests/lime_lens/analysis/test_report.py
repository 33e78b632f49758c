import torch

from lime_lens.analysis.report import load_saved_model
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

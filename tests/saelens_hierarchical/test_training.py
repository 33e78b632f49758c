"""Training through SAELens's own runners, offline on a tiny random model."""

from __future__ import annotations

import json

import pytest
import torch
from htopk_helpers import D_MODEL, HOOK, runner_config, tiny_model, token_dataset
from sae_lens import SAE, LanguageModelSAETrainingRunner, TopKSAE
from sae_lens.saes.sae import TrainingSAE

from saelens_hierarchical import HierarchicalTopKTrainingSAE, HierarchicalTopKTrainingSAEConfig


@pytest.mark.slow
def test_lm_runner_trains_and_saves_a_stock_topk_sae_with_unit_norm_decoder(tmp_path):
    cfg = runner_config(tmp_path)
    runner = LanguageModelSAETrainingRunner(
        cfg, override_dataset=token_dataset(64), override_model=tiny_model()
    )
    assert type(runner.sae) is HierarchicalTopKTrainingSAE
    trained = runner.run()
    loaded = SAE.load_from_disk(tmp_path / "output")
    assert type(loaded) is TopKSAE and loaded.cfg.k == 4
    assert loaded.cfg.metadata.hook_name == HOOK
    assert loaded.cfg.metadata.training_architecture == "hierarchical_topk"
    torch.testing.assert_close(loaded.W_dec.norm(dim=-1), torch.ones(32))
    x = torch.randn(10, D_MODEL)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), trained(x), rtol=1e-4, atol=1e-5)
    runner_cfg = json.loads((tmp_path / "output" / "runner_cfg.json").read_text())
    assert runner_cfg["sae"]["architecture"] == "hierarchical_topk"


@pytest.mark.slow
def test_checkpoint_resume_continues_from_the_saved_training_state(tmp_path):
    tokens = 64 * 12
    first = runner_config(tmp_path / "a", training_tokens=tokens, n_checkpoints=1)
    LanguageModelSAETrainingRunner(
        first, override_dataset=token_dataset(64), override_model=tiny_model()
    ).run()
    checkpoints = sorted(p.parent for p in (tmp_path / "a" / "checkpoints").rglob("cfg.json"))
    assert checkpoints, "no checkpoint written"
    checkpoint = checkpoints[0]
    assert json.loads((checkpoint / "cfg.json").read_text())["architecture"] == "hierarchical_topk"
    saved = TrainingSAE.load_from_disk(checkpoint)
    assert type(saved) is HierarchicalTopKTrainingSAE
    # Resuming with the checkpoint's own token budget runs no step: the output must be the
    # checkpointed weights (folded for inference), so the weights really were restored.
    n_samples = int(checkpoint.name)
    resumed_cfg = runner_config(
        tmp_path / "b", training_tokens=n_samples, resume_from_checkpoint=str(checkpoint)
    )
    LanguageModelSAETrainingRunner(
        resumed_cfg, override_dataset=token_dataset(64), override_model=tiny_model()
    ).run()
    saved.save_inference_model(tmp_path / "expected")
    expected = SAE.load_from_disk(tmp_path / "expected").state_dict()
    resumed = SAE.load_from_disk(tmp_path / "b" / "output")
    assert type(resumed) is TopKSAE
    for name, value in resumed.state_dict().items():
        torch.testing.assert_close(value, expected[name], msg=name)
    # and with more tokens it trains on from there
    longer_cfg = runner_config(
        tmp_path / "c", training_tokens=tokens, resume_from_checkpoint=str(checkpoint)
    )
    LanguageModelSAETrainingRunner(
        longer_cfg, override_dataset=token_dataset(64), override_model=tiny_model()
    ).run()
    assert not torch.equal(SAE.load_from_disk(tmp_path / "c" / "output").W_enc, resumed.W_enc)


@pytest.mark.slow
def test_trainer_logs_per_budget_explained_variance_among_saelens_metrics(tmp_path, monkeypatch):
    from sae_lens import LoggingConfig
    from sae_lens.training.sae_trainer import SAETrainer

    logged: list[dict] = []
    build = SAETrainer.build_train_step_log_dict

    def capture(self, output, n_training_samples):
        logged.append(build(self, output, n_training_samples))
        return logged[-1]

    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setattr(SAETrainer, "build_train_step_log_dict", capture)
    cfg = runner_config(
        tmp_path,
        sae=HierarchicalTopKTrainingSAEConfig(d_in=D_MODEL, d_sae=32, k=8),
        logger=LoggingConfig(
            log_to_wandb=True, wandb_log_frequency=5, eval_every_n_wandb_logs=1000
        ),
    )
    LanguageModelSAETrainingRunner(
        cfg, override_dataset=token_dataset(64), override_model=tiny_model()
    ).run()
    assert len(logged) == 4  # 20 steps, every 5th
    for d in logged:
        assert {f"metrics/explained_variance_k{j}" for j in (1, 2, 4, 8)} <= set(d)
        assert d["metrics/explained_variance_k8"] == pytest.approx(
            d["metrics/explained_variance"], abs=1e-4
        )
        assert d["metrics/explained_variance_k1"] <= d["metrics/explained_variance_k8"] + 1e-6


@pytest.mark.slow
def test_multi_sae_runner_trains_hierarchical_and_topk_side_by_side(tmp_path):
    from sae_lens import LoggingConfig
    from sae_lens.multi_sae_training_runner import (
        MultiSAETrainingRunner,
        MultiSAETrainingRunnerConfig,
    )
    from sae_lens.saes.topk_sae import TopKTrainingSAEConfig

    cfg = MultiSAETrainingRunnerConfig(
        saes={
            "htopk": HierarchicalTopKTrainingSAEConfig(d_in=D_MODEL, d_sae=32, k=4),
            "topk": TopKTrainingSAEConfig(d_in=D_MODEL, d_sae=32, k=4),
        },
        hook_names=HOOK,
        model_name="tiny",
        dataset_path="in-memory",
        context_size=16,
        training_tokens=64 * 10,
        train_batch_size_tokens=64,
        n_batches_in_buffer=8,
        store_batch_size_prompts=4,
        streaming=False,
        logger=LoggingConfig(log_to_wandb=False),
        checkpoint_path=str(tmp_path / "ckpt"),
        output_path=str(tmp_path / "out"),
    )
    saes = MultiSAETrainingRunner(
        cfg, override_dataset=token_dataset(64), override_model=tiny_model()
    ).run()
    assert type(saes["htopk"]) is HierarchicalTopKTrainingSAE
    loaded = SAE.load_from_disk(tmp_path / "out" / "htopk")
    assert type(loaded) is TopKSAE
    assert loaded.cfg.metadata.training_architecture == "hierarchical_topk"


@pytest.mark.slow
def test_synthetic_runner_trains_hierarchical_topk(tmp_path):
    from sae_lens.synthetic import (
        SyntheticModelConfig,
        SyntheticSAERunner,
        SyntheticSAERunnerConfig,
    )

    cfg = SyntheticSAERunnerConfig(
        synthetic_model=SyntheticModelConfig(num_features=64, hidden_dim=16, seed=0),
        sae=HierarchicalTopKTrainingSAEConfig(d_in=16, d_sae=64, k=4),
        training_samples=256 * 20,
        batch_size=256,
        eval_frequency=0,
        eval_samples=512,
        output_path=str(tmp_path / "out"),
        device="cpu",
    )
    result = SyntheticSAERunner(cfg).run()
    assert type(result.sae if hasattr(result, "sae") else result[0]) is HierarchicalTopKTrainingSAE
    assert type(SAE.load_from_disk(tmp_path / "out")) is TopKSAE


@pytest.mark.slow
def test_runner_with_compile_sae_trains_like_eager(tmp_path, unchecked):
    # SAELens's compile_sae wraps training_forward_pass in torch.compile (inductor on CPU).
    results = {}
    for compile_sae in (False, True):
        out = tmp_path / str(compile_sae)
        cfg = runner_config(out, training_tokens=64 * 3, compile_sae=compile_sae)
        LanguageModelSAETrainingRunner(
            cfg, override_dataset=token_dataset(64), override_model=tiny_model()
        ).run()
        results[compile_sae] = SAE.load_from_disk(out / "output")
    for name, eager in results[False].state_dict().items():
        torch.testing.assert_close(
            results[True].state_dict()[name], eager, rtol=1e-4, atol=1e-5, msg=name
        )

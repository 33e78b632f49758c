"""Study-config options for the d_sae-scaling experiment: paired init, lr decay, training probe."""

import torch
from comparison_helpers import D_MODEL, HOOK

from saelens_hierarchical.study.baselines import BaselineConfig, build_saes, train_on_provider

SMALL = dict(
    d_sae=32, K=4, budgets=[2, 4], methods=("hierarchical_topk", "topk"), train_batch_size_tokens=64
)


def test_paired_init_starts_topk_at_K_from_the_hierarchical_weights_and_nothing_else():
    paired = build_saes(BaselineConfig(**SMALL, paired_init=True), D_MODEL)
    alone = build_saes(BaselineConfig(**SMALL), D_MODEL)
    for key, value in paired["hierarchical_topk_K4"].state_dict().items():
        torch.testing.assert_close(paired["topk_k4"].state_dict()[key], value)
    assert not torch.equal(alone["topk_k4"].W_enc, alone["hierarchical_topk_K4"].W_enc)
    torch.testing.assert_close(paired["topk_k2"].W_enc, alone["topk_k2"].W_enc)


def test_lr_stays_constant_then_decays_linearly_to_zero_and_the_probe_sees_every_step(tmp_path):
    steps, lrs = 10, []
    cfg = BaselineConfig(**SMALL, training_tokens=steps * 64, lr=1e-3, lr_decay_fraction=0.4)
    g = torch.Generator().manual_seed(0)
    batches = iter([torch.randn(64, D_MODEL, generator=g) for _ in range(steps + 20)])

    def probe(trainer):
        if trainer.n_training_steps or not lrs:  # one entry for the norm-estimation batches
            lrs.append(trainer.trainers["hierarchical_topk_K4"].optimizer.param_groups[0]["lr"])

    train_on_provider(cfg, batches, D_MODEL, HOOK, tmp_path, on_batch=probe)
    assert cfg.lr_decay_steps == 4
    assert lrs[:7] == [1e-3] * 7  # steps 0..6 at the full lr (the first probe is before any step)
    torch.testing.assert_close(lrs[7:], [0.75e-3, 0.5e-3, 0.25e-3], rtol=1e-6, atol=0)

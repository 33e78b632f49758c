import pytest
import torch
from train_helpers import CONTEXT, tiny_model, token_rows

from lime_lens.serialization import load_model
from lime_lens.train import TrainConfig, train
from lime_lens.train.architectures import ModelShape, build_model
from lime_lens.train.trainer import param_groups

TRAIN, VAL = token_rows(96, seed=1), token_rows(24, seed=2)


def dtype_recording_loss(seen: list[torch.dtype]):
    """Next-token loss that appends the logits' dtype (what autocast produced) to ``seen``."""

    def loss_fn(model, batch):
        logits = model(batch, return_type="logits")
        seen.append(logits.dtype)
        flat = logits[:, :-1].flatten(0, 1).float()
        return torch.nn.functional.cross_entropy(flat, batch[:, 1:].flatten())

    return loss_fn


def quick_cfg(**overrides) -> TrainConfig:
    base = dict(
        max_steps=12, batch_size=8, warmup_steps=3, eval_interval=6, progress=False, lr=3e-3
    )
    return TrainConfig(**{**base, **overrides})


def test_router_params_get_their_own_group_with_router_lr_and_no_weight_decay():
    model = build_model(
        "lime-kv", ModelShape(n_layers=3, d_model=32, n_heads=4, d_head=8, d_mlp=64, n_ctx=16), 50
    )
    groups = {g["name"]: g for g in param_groups(model, TrainConfig())}
    names = {id(p): n for n, p in model.named_parameters()}
    router_names = sorted(names[id(p)] for p in groups["router"]["params"])
    assert router_names == ["blocks.1.lime.route", "blocks.2.lime.route"]
    assert (groups["router"]["lr"], groups["router"]["weight_decay"]) == (1e-2, 0.0)
    assert (
        all(p.ndim >= 2 for p in groups["decay"]["params"])
        and groups["decay"]["weight_decay"] == 0.1
    )
    assert sum(len(g["params"]) for g in groups.values()) == len(names)


def test_training_lowers_validation_loss_on_a_learnable_pattern():
    model = tiny_model()
    before = train(
        model, quick_cfg(max_steps=1, lr=1e-9, min_lr=0.0, warmup_steps=0), TRAIN, VAL
    ).val_loss
    after = train(tiny_model(), quick_cfg(max_steps=60), TRAIN, VAL).val_loss
    assert after < before - 0.5, (before, after)


def test_resume_from_a_stopped_run_reproduces_the_uninterrupted_loss_curve(tmp_path):
    full_model = tiny_model()
    full = train(full_model, quick_cfg(), TRAIN, VAL)
    stopped = train(
        tiny_model(), quick_cfg(stop_at_step=5, checkpoint_dir=str(tmp_path)), TRAIN, VAL
    )
    assert len(stopped.train_losses) == 5 and stopped.checkpoint.name == "step_00000005"
    resumed_model = tiny_model(seed=123)  # different init: everything must come from the checkpoint
    resumed = train(resumed_model, quick_cfg(), TRAIN, VAL, resume_from=tmp_path)
    torch.testing.assert_close(
        torch.tensor(resumed.train_losses), torch.tensor(full.train_losses), rtol=0, atol=0
    )
    assert resumed.val_history == full.val_history and resumed.samples_seen == full.samples_seen
    for (name, a), (_, b) in zip(
        full_model.state_dict().items(), resumed_model.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_same_seed_same_curve_and_another_seed_another_data_order():
    a = train(tiny_model(), quick_cfg(max_steps=4, eval_interval=0), TRAIN, VAL).train_losses
    b = train(tiny_model(), quick_cfg(max_steps=4, eval_interval=0), TRAIN, VAL).train_losses
    c = train(
        tiny_model(), quick_cfg(max_steps=4, eval_interval=0, seed=1), TRAIN, VAL
    ).train_losses
    assert a == b and a != c


def test_checkpoint_model_folder_loads_with_lime_lens_serialization(tmp_path):
    model = tiny_model()
    result = train(model, quick_cfg(max_steps=3, checkpoint_dir=str(tmp_path)), TRAIN, VAL)
    loaded = load_model(result.checkpoint / "model")
    for (name, a), (_, b) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_keep_checkpoints_prunes_old_ones(tmp_path):
    cfg = quick_cfg(
        max_steps=6, checkpoint_dir=str(tmp_path), checkpoint_interval=1, keep_checkpoints=2
    )
    train(tiny_model(), cfg, TRAIN, VAL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00000005", "step_00000006"]


@pytest.mark.parametrize(
    ("precision", "dtype"), [("bf16", torch.bfloat16), ("fp32", torch.float32)]
)
def test_precision_flag_controls_autocast_on_cpu(precision, dtype):
    seen: list[torch.dtype] = []
    loss_fn = dtype_recording_loss(seen)

    train(tiny_model(), quick_cfg(max_steps=2, precision=precision), TRAIN, None, loss_fn=loss_fn)
    assert seen == [dtype, dtype]


def test_mapping_data_with_a_custom_masked_loss_trains_any_model():
    mask = torch.zeros_like(TRAIN, dtype=torch.bool)
    mask[:, CONTEXT // 2 :] = True

    def masked_loss(model, batch):
        logits = model(batch["tokens"], return_type="logits")[:, :-1]
        target, keep = batch["tokens"][:, 1:], batch["mask"][:, 1:]
        return torch.nn.functional.cross_entropy(logits[keep], target[keep])

    data = {"tokens": TRAIN, "mask": mask}
    result = train(
        tiny_model(),
        quick_cfg(max_steps=4),
        data,
        {"tokens": VAL, "mask": mask[:24]},
        loss_fn=masked_loss,
    )
    assert len(result.train_losses) == 4 and result.tokens_seen == 4 * 8 * CONTEXT


def test_a_failed_checkpoint_write_leaves_no_partial_folder(tmp_path, monkeypatch):
    cfg = quick_cfg(max_steps=4, checkpoint_dir=str(tmp_path))
    train(tiny_model(), quick_cfg(**{**cfg.to_dict(), "stop_at_step": 2}), TRAIN, None)
    import lime_lens.train.checkpoint as ckpt

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        train(tiny_model(), cfg, TRAIN, None, resume_from=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00000002"]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_auto_precision_trains_in_bf16_on_cuda_and_resumes_exactly(tmp_path):
    seen: list[torch.dtype] = []
    loss_fn = dtype_recording_loss(seen)

    full = train(tiny_model().cuda(), quick_cfg(), TRAIN, VAL, loss_fn=loss_fn)
    assert set(seen) == {torch.bfloat16} and full.extra["bf16"]
    train(
        tiny_model().cuda(),
        quick_cfg(stop_at_step=5, checkpoint_dir=str(tmp_path)),
        TRAIN,
        VAL,
        loss_fn=loss_fn,
    )
    resumed = train(
        tiny_model(seed=5).cuda(), quick_cfg(), TRAIN, VAL, loss_fn=loss_fn, resume_from=tmp_path
    )
    # Not bitwise: CUDA's embedding backward accumulates with atomics (non-deterministic order);
    # bf16 resolution (eps 7.8e-3) bounds the drift over 12 steps.
    torch.testing.assert_close(
        torch.tensor(resumed.train_losses), torch.tensor(full.train_losses), rtol=1e-2, atol=1e-2
    )


def test_resuming_with_a_changed_schedule_warns_naming_the_fields(tmp_path):
    train(tiny_model(), quick_cfg(max_steps=4, checkpoint_dir=str(tmp_path)), TRAIN, None)
    with pytest.warns(UserWarning, match="max_steps, seed"):
        train(tiny_model(), quick_cfg(max_steps=6, seed=3), TRAIN, None, resume_from=tmp_path)

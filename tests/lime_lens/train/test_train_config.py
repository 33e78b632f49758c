import pytest

from lime_lens.train import TrainConfig


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_steps", 0),
        ("batch_size", -1),
        ("lr", 0.0),
        ("router_lr", -1e-2),
        ("weight_decay", -0.1),
        ("warmup_steps", -1),
        ("grad_clip", 0.0),
        ("precision", "fp16"),
        ("parallel", "zero3"),
        ("eval_batches", 0),
        ("stop_at_step", 0),
        ("router_param_regex", "("),
        ("betas", (0.9, 1.0)),
        ("min_lr", 1.0),
    ],
)
def test_bad_values_raise_value_error_naming_the_field(field, value, unchecked):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


def test_stop_at_step_beyond_max_steps_raises():
    with pytest.raises(ValueError, match="stop_at_step"):
        TrainConfig(max_steps=10, stop_at_step=11, checkpoint_dir="ckpt")


def test_config_survives_a_json_dict_round_trip():
    cfg = TrainConfig(
        max_steps=7,
        betas=(0.8, 0.9),
        eval_batches=3,
        stop_at_step=5,
        precision="bf16",
        checkpoint_dir="ckpt",
    )
    assert TrainConfig(**cfg.to_dict()) == cfg
    assert cfg.to_dict()["betas"] == [0.8, 0.9]


def test_defaults_are_the_lime_paper_recipe():
    cfg = TrainConfig()
    assert (cfg.lr, cfg.router_lr, cfg.weight_decay, cfg.betas, cfg.eps) == (
        1e-3,
        1e-2,
        0.1,
        (0.9, 0.95),
        1e-8,
    )
    assert (cfg.warmup_steps, cfg.min_lr, cfg.grad_clip) == (200, 1e-6, 1.0)


def test_stopping_early_without_a_checkpoint_dir_raises():
    with pytest.raises(ValueError, match="checkpoint_dir"):
        TrainConfig(max_steps=10, stop_at_step=5)

import pytest
import torch

from lime_lens.train.schedule import cosine_with_warmup


def test_warmup_is_linear_up_to_the_peak():
    rates = [cosine_with_warmup(s, 1e-3, 1e-6, warmup_steps=10, max_steps=100) for s in range(10)]
    torch.testing.assert_close(
        torch.tensor(rates, dtype=torch.float64),
        torch.arange(1, 11, dtype=torch.float64) * 1e-4,
        rtol=1e-12,
        atol=0,
    )


def test_cosine_part_equals_torch_cosine_annealing_lr():
    peak, floor, warmup, max_steps = 3e-3, 1e-5, 5, 40
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=max_steps - warmup - 1, eta_min=floor
    )
    ours, theirs = [], []
    for step in range(warmup, max_steps):
        ours.append(cosine_with_warmup(step, peak, floor, warmup, max_steps))
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    torch.testing.assert_close(
        torch.tensor(ours), torch.tensor(theirs), rtol=1e-6, atol=1e-12, check_dtype=False
    )


def test_last_step_reaches_the_floor_and_stays_there():
    assert cosine_with_warmup(99, 1e-3, 1e-6, 10, 100) == pytest.approx(1e-6)
    assert cosine_with_warmup(150, 1e-3, 1e-6, 10, 100) == pytest.approx(1e-6)


def test_linear_decay_is_a_straight_line_from_peak_to_floor():
    from lime_lens.train.schedule import linear_with_warmup

    peak, floor, warmup, max_steps = 1e-3, 1e-6, 0, 11
    rates = [linear_with_warmup(s, peak, floor, warmup, max_steps) for s in range(max_steps)]
    expected = torch.linspace(peak, floor, max_steps, dtype=torch.float64)
    torch.testing.assert_close(
        torch.tensor(rates, dtype=torch.float64), expected, rtol=1e-12, atol=1e-15
    )


def test_trainer_applies_the_configured_schedule_to_every_group():
    from lime_lens.train import TrainConfig
    from lime_lens.train.schedule import linear_with_warmup
    from lime_lens.train.trainer import set_learning_rates

    cfg = TrainConfig(max_steps=20, lr=1e-3, router_lr=1e-2, warmup_steps=2, schedule="linear")
    opt = torch.optim.AdamW(
        [
            {"params": [torch.nn.Parameter(torch.zeros(1))], "peak_lr": 1e-3},
            {"params": [torch.nn.Parameter(torch.zeros(1))], "peak_lr": 1e-2},
        ]
    )
    set_learning_rates(opt, 10, cfg)
    assert opt.param_groups[0]["lr"] == pytest.approx(linear_with_warmup(10, 1e-3, 1e-6, 2, 20))
    assert opt.param_groups[1]["lr"] == pytest.approx(linear_with_warmup(10, 1e-2, 1e-5, 2, 20))


def test_an_unknown_schedule_is_refused_naming_the_field(unchecked):
    from lime_lens.train import TrainConfig

    with pytest.raises(ValueError, match="TrainConfig.schedule"):
        TrainConfig(schedule="step")

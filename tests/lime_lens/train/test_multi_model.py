"""N models trained as one stack equal the same N trained one by one (lime_lens.train.multi_model)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from stack_helpers import SHAPE, model, perturb_routes, recipe_config, step_rows

from lime_lens.arithmetic.metrics import answer_loss
from lime_lens.arithmetic.scoring import generate_solutions
from lime_lens.arithmetic.step_vocab import step_vocab
from lime_lens.train import train
from lime_lens.train.checkpoint import list_checkpoints
from lime_lens.train.model_stack import rope_tables, stack_params, stack_shape
from lime_lens.train.multi_checkpoint import load_saved_model as load_model
from lime_lens.train.multi_model import StackOptions, train_models
from lime_lens.train.stacked_model import identity_route, stacked_hidden, stacked_logits

ROOT = Path(__file__).resolve().parents[3]

# fp32 on CPU. The stack sums in another order than TransformerLens (one bmm per layer instead
# of einsums), about 1e-6 on logits; AdamW's normalised update then keeps parameter differences
# near that size over a few steps.
LOGITS_TOL = dict(atol=1e-5, rtol=1e-5)
TRAIN_TOL = dict(atol=5e-5, rtol=1e-4)


@pytest.fixture(scope="module")
def rows():
    return step_rows()


def _twins():
    """LIMe-kv (two seeds, routes perturbed) and a vanilla twin: one stack."""
    models = [model("lime-kv", 0), model("lime-kv", 1), model("vanilla", 2)]
    perturb_routes(models[0], 0)
    perturb_routes(models[1], 1)
    return models


def test_stacked_logits_equal_each_transformerlens_model():
    models = _twins()
    params, _ = stack_params(models)
    tokens = torch.randint(
        0, len(step_vocab()), (3, 12), generator=torch.Generator().manual_seed(0)
    )
    positions = torch.arange(12).expand(3, 12)
    hidden = stacked_hidden(
        params, tokens, positions, None, rope_tables(models), stack_shape(models)
    )
    logits = stacked_logits(params, hidden.reshape(3, 36, -1), stack_shape(models)).view(
        3, 3, 12, -1
    )
    for i, m in enumerate(models):
        torch.testing.assert_close(logits[i], m(tokens, return_type="logits"), **LOGITS_TOL)


def test_identity_route_reads_exactly_the_own_layer():
    """Vanilla in a stack: R = identity on layer l, 0 elsewhere, gives raw_l bit for bit."""
    gen = torch.Generator().manual_seed(0)
    buffers = [torch.randn(1, 2, 40, generator=gen) * 10**k for k in range(3)]
    route = identity_route(2, 2, buffers[0])[None].reshape(1, 2, -1)
    assert torch.equal(torch.bmm(route, torch.cat(buffers, dim=1)), buffers[2])


def test_stack_trains_like_each_model_alone_and_each_loads_back(rows, tmp_path):
    together, alone = _twins(), _twins()
    cfgs = [
        recipe_config(checkpoint_dir=str(tmp_path / f"m{i}"), router_lr=1e-2 * (i + 1))
        for i in range(3)
    ]
    results = train_models(together, cfgs, rows)
    for i, (m, cfg) in enumerate(zip(alone, cfgs, strict=True)):
        reference = train(
            m, dataclasses.replace(cfg, checkpoint_dir=None), rows, loss_fn=answer_loss
        )
        torch.testing.assert_close(
            torch.tensor(results[i].train_losses), torch.tensor(reference.train_losses), **TRAIN_TOL
        )
        for (name, p), q in zip(together[i].named_parameters(), m.parameters(), strict=True):
            torch.testing.assert_close(p, q, **TRAIN_TOL, msg=f"model {i} {name}")
        loaded = load_model(list_checkpoints(tmp_path / f"m{i}")[-1] / "model")
        for (name, p), q in zip(
            loaded.state_dict().items(), together[i].state_dict().values(), strict=True
        ):
            assert torch.equal(p, q), name
    # a vanilla model's routes never existed: its folder is an ordinary vanilla model
    assert not any(
        "lime" in k for k in load_model(tmp_path / "m2" / "step_00000004" / "model").state_dict()
    )


def test_loaded_models_generate_with_the_kv_cache_as_models_trained_alone(rows, tmp_path):
    together, alone = _twins(), _twins()
    cfgs = [recipe_config(max_steps=3, checkpoint_dir=str(tmp_path / f"m{i}")) for i in range(3)]
    train_models(together, cfgs, rows)
    expressions = ["1 + 2 × 3", "(4 − 1) × 2", "9 ÷ 3 + 2 + 1"]
    for i, m in enumerate(alone):
        train(m, dataclasses.replace(cfgs[i], checkpoint_dir=None), rows, loss_fn=answer_loss)
        loaded = load_model(tmp_path / f"m{i}" / "step_00000003" / "model")
        got = generate_solutions(loaded, step_vocab(), expressions, max_new_tokens=12)
        assert got == generate_solutions(m, step_vocab(), expressions, max_new_tokens=12)


def test_resume_continues_exactly(rows, tmp_path):
    straight, halves = _twins(), _twins()
    dirs = [str(tmp_path / f"m{i}") for i in range(3)]
    train_models(straight, [recipe_config(checkpoint_dir=d + "x") for d in dirs], rows)
    train_models(halves, [recipe_config(checkpoint_dir=d, stop_at_step=2) for d in dirs], rows)
    results = train_models(
        halves, [recipe_config(checkpoint_dir=d) for d in dirs], rows, resume=True
    )
    assert len(results[0].train_losses) == 4
    for a, b in zip(straight, halves, strict=True):
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-6)


def test_resume_with_a_changed_config_raises_naming_it_and_writes_nothing(rows, tmp_path):
    models = _twins()
    dirs = [str(tmp_path / f"m{i}") for i in range(3)]
    train_models(models, [recipe_config(checkpoint_dir=d, stop_at_step=2) for d in dirs], rows)
    before = {p: sorted(q.name for q in p.iterdir()) for d in dirs for p in list_checkpoints(d)}
    changed = [
        recipe_config(checkpoint_dir=d, lr=2e-3 if i == 1 else 1e-3) for i, d in enumerate(dirs)
    ]
    with pytest.raises(ValueError, match=r"TrainConfig\.lr was 0.001, now 0.002"):
        train_models(models, changed, rows, resume=True)
    after = {p: sorted(q.name for q in p.iterdir()) for d in dirs for p in list_checkpoints(d)}
    assert after == before


def test_models_of_different_shapes_raise_naming_the_field():
    wide = model("vanilla", 0, dataclasses.replace(SHAPE, d_model=24))
    with pytest.raises(ValueError, match=r"models\[1\]\.cfg\.d_model = 24 differs"):
        stack_shape([model("lime-kv", 0), wide])


def test_unsupported_router_raises_naming_the_field():
    with pytest.raises(ValueError, match=r"models\[1\]\.cfg\.lime_mode = 'residual'"):
        stack_shape([model("lime-kv", 0), model("lime-residual-static", 0)])


def test_configs_that_would_split_the_batches_raise_naming_the_field(rows):
    with pytest.raises(ValueError, match=r"cfgs\[1\]\.batch_size = 8 differs"):
        train_models(_twins()[:2], [recipe_config(), recipe_config(batch_size=8)], rows)


def test_cuda_graphs_need_a_cuda_device(rows):
    with pytest.raises(ValueError, match="cuda_graphs needs a CUDA device"):
        train_models(_twins()[:1], [recipe_config()], rows, StackOptions(cuda_graphs=True))


def test_ordinary_trainer_resumes_a_stack_checkpoint(rows, tmp_path):
    """A stack checkpoint is the ordinary trainer's: train() continues it as train_models does."""
    a, b = _twins()[:1], _twins()[:1]
    train_models(a, [recipe_config(checkpoint_dir=str(tmp_path / "s"))], rows)
    train_models(b, [recipe_config(checkpoint_dir=str(tmp_path / "h"), stop_at_step=2)], rows)
    train(
        b[0],
        recipe_config(checkpoint_dir=str(tmp_path / "h")),
        rows,
        loss_fn=answer_loss,
        resume_from=tmp_path / "h",
    )
    for p, q in zip(a[0].parameters(), b[0].parameters(), strict=True):
        torch.testing.assert_close(p, q, **TRAIN_TOL)


def test_bf16_autocast_trains_close_to_fp32(rows):
    """precision="bf16" (what "auto" picks on CUDA): the step-0 loss, before any update, agrees
    with fp32 to bf16 precision (rotary runs in fp32: there is no complex bf16)."""
    fp32, bf16 = (
        train_models(_twins(), [recipe_config(max_steps=1, precision=p)] * 3, rows)
        for p in ("fp32", "bf16")
    )
    for a, b in zip(fp32, bf16, strict=True):
        assert a.train_losses[0] == pytest.approx(b.train_losses[0], rel=2e-2)


COMPILE_CHECK = """
import dataclasses, sys, torch
sys.path.insert(0, "tests/lime_lens/train")
from stack_helpers import model, recipe_config, step_rows
from lime_lens.train.multi_model import Packing, StackOptions, train_models
rows, options = step_rows(), StackOptions(packing=Packing(row_len=48))
eager, compiled = [[model("lime-kv", 1), model("vanilla", 2)] for _ in range(2)]
train_models(eager, [recipe_config(max_steps=3)] * 2, rows, options)
train_models(compiled, [recipe_config(max_steps=3)] * 2, rows, dataclasses.replace(options, compile=True))
for a, b in zip(eager, compiled):
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, atol=5e-5, rtol=1e-4)
print("compiled == eager")
"""


@pytest.mark.slow
def test_compiled_stack_trains_as_the_eager_one():
    """StackOptions.compile (torch.compile of the stacked loss) changes speed, not results. In a
    subprocess: dynamo cannot trace the jaxtyping/beartype checks the test run instruments."""
    done = subprocess.run(
        [sys.executable, "-c", COMPILE_CHECK], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "compiled == eager" in done.stdout

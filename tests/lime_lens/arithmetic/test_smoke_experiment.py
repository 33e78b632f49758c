import torch

from lime_lens.arithmetic.smoke_experiment import PAPER_SHAPE, encode_smoke_task, train_smoke
from lime_lens.arithmetic.smoke_task import SmokeTask
from lime_lens.arithmetic.vocab import CharVocab
from lime_lens.train import TrainConfig
from lime_lens.train.architectures import ModelShape

TINY = ModelShape(
    n_layers=2, d_model=16, n_heads=2, n_key_value_heads=None, d_head=8, d_mlp=32, n_ctx=16
)


def test_encoded_task_keeps_each_n_block_in_order_with_the_generated_sizes():
    task = SmokeTask(n_operands=(3, 2), n_train=40, n_test=10)
    data = encode_smoke_task(task)
    vocab = CharVocab()
    assert data.sizes == {3: (40, 10), 2: (40, 10)}
    first, last = vocab.decode(data.train["tokens"][0]), vocab.decode(data.train["tokens"][-1])
    assert first.index("=") == 6 and last.index("=") == 4  # ^a?b?c= then ^a?b=
    assert all(
        rows["tokens"].shape == (10, data.train["tokens"].shape[1]) for rows in data.test.values()
    )


def test_train_arithmetic_is_seeded_and_scores_every_n():
    data = encode_smoke_task(SmokeTask(n_operands=(2, 3), n_train=64, n_test=16))
    cfg = TrainConfig(
        max_steps=3, batch_size=16, warmup_steps=1, eval_interval=0, progress=False, seed=5
    )
    runs = [train_smoke(arch, data, cfg, TINY) for arch in ("lime-kv", "lime-kv", "vanilla")]
    assert runs[0].accuracy == runs[1].accuracy
    assert set(runs[0].accuracy) == set(runs[0].train_accuracy) == {2, 3}
    assert runs[0].n_params - runs[2].n_params == 2 * (
        2 * 2
    )  # layer 1's R x (l+1)R router, R = 2 KV heads
    torch.testing.assert_close(runs[0].final_train_loss, runs[1].final_train_loss)


def test_paper_shape_is_four_layers_four_heads_d_model_32():
    assert (PAPER_SHAPE.n_layers, PAPER_SHAPE.n_heads, PAPER_SHAPE.d_model) == (4, 4, 32)

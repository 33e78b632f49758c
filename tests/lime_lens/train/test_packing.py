"""Packed rows train exactly as padded rows (lime_lens.train.packing through the stacked trainer)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from stack_helpers import model, perturb_routes, recipe_config, step_rows
from transformer_lens import HookedTransformer, HookedTransformerConfig

from lime_lens.arithmetic.metrics import answer_loss
from lime_lens.tl.vanilla_attention import use_fused_attention
from lime_lens.train import train
from lime_lens.train.model_stack import rope_tables, stack_params, stack_shape
from lime_lens.train.multi_model import Packing, StackOptions, train_models
from lime_lens.train.packing import (
    PAD_DOC,
    block_causal_mask,
    doc_buckets,
    example_lengths,
    first_fit_decreasing,
    pack_batch,
    padding_stats,
)
from lime_lens.train.stacked_model import stacked_hidden, stacked_logits

TRAIN_TOL = dict(atol=5e-5, rtol=1e-4)  # as test_multi_model: summation order, fp32


@pytest.fixture(scope="module")
def rows():
    return step_rows()


def test_first_fit_decreasing_places_every_example_once_within_rows():
    lengths = [7, 3, 9, 2, 5, 5, 1, 8]
    groups = first_fit_decreasing(lengths, 10)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in g) <= 10 for g in groups)
    assert len(groups) == 4  # 40 tokens in 4 full rows: 9+1, 8+2, 7+3, 5+5
    with pytest.raises(ValueError, match="row_len 8 is shorter than an example of 9 tokens"):
        first_fit_decreasing(lengths, 8)


def test_packed_rows_hold_the_examples_with_positions_restarting(rows):
    batch = {k: v[:10] for k, v in rows.items()}
    lengths = example_lengths(batch["tokens"], pad_id=0)
    packed = pack_batch(batch, lengths, row_len=40)
    for i in range(10):
        where = packed["doc_ids"] == i
        n = int(lengths[i])
        assert int(where.sum()) == n
        assert torch.equal(packed["tokens"][where], batch["tokens"][i, :n])
        assert torch.equal(packed["answer_mask"][where], batch["answer_mask"][i, :n])
        assert torch.equal(packed["positions"][where], torch.arange(n))
    assert bool((packed["tokens"][packed["doc_ids"] == PAD_DOC] == 0).all())
    with pytest.raises(ValueError, match="n_rows=1 is fewer than"):
        pack_batch(batch, lengths, row_len=40, n_rows=1)


def test_block_causal_mask_never_crosses_an_example():
    doc = torch.tensor([[0, 0, 1, 1, 1, PAD_DOC]])
    mask = block_causal_mask(doc)[0, 0]
    expected = torch.tensor(
        [
            [1, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0],
            [0, 0, 1, 0, 0, 0],
            [0, 0, 1, 1, 0, 0],
            [0, 0, 1, 1, 1, 0],
            [0, 0, 0, 0, 0, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(mask, expected)


@pytest.mark.parametrize("attention", ["dense_mask", "per_example"])
def test_each_packed_example_gets_the_logits_it_gets_alone(rows, attention):
    """Document masking + restarting positions: a packed example is its own padded row, with the
    dense block-causal mask and with attention gathered per example (the trainer's path)."""
    models = [model("lime-kv", 0), model("vanilla", 1)]
    perturb_routes(models[0], 0)
    batch = {k: v[:12] for k, v in rows.items()}
    lengths = example_lengths(batch["tokens"], pad_id=0)
    packed = pack_batch(batch, lengths, row_len=48)
    params, _ = stack_params(models)
    shape = stack_shape(models)
    hidden = stacked_hidden(
        params,
        packed["tokens"],
        packed["positions"],
        block_causal_mask(packed["doc_ids"])
        if attention == "dense_mask"
        else doc_buckets(packed["doc_ids"], n_buckets=3),
        rope_tables(models),
        shape,
    )
    logits = stacked_logits(params, hidden.flatten(1, 2), shape).view(*hidden.shape[:3], -1)
    for m_index, m in enumerate(models):
        for i in range(12):
            n = int(lengths[i])
            alone = m(batch["tokens"][i : i + 1, :n], return_type="logits")[0]
            torch.testing.assert_close(
                logits[m_index][packed["doc_ids"] == i], alone, atol=1e-5, rtol=1e-5
            )


@pytest.mark.parametrize("n_models", [1, 2])
def test_packed_training_equals_padded_training_with_the_same_examples(rows, n_models):
    """Same batches (128-example steps of the recipe, here 16), same order: same losses, same
    weights as the ordinary trainer on padded rows."""
    arches = ["lime-kv", "vanilla"][:n_models]
    packed_models = [model(a, s) for s, a in enumerate(arches)]
    padded_models = [model(a, s) for s, a in enumerate(arches)]
    cfg = recipe_config()
    options = StackOptions(packing=Packing(row_len=48, pad_id=0))
    results = train_models(packed_models, [cfg] * n_models, rows, options)
    for m, p, result in zip(padded_models, packed_models, results, strict=True):
        reference = train(m, dataclasses.replace(cfg), rows, loss_fn=answer_loss)
        torch.testing.assert_close(
            torch.tensor(result.train_losses), torch.tensor(reference.train_losses), **TRAIN_TOL
        )
        for a, b in zip(p.parameters(), m.parameters(), strict=True):
            torch.testing.assert_close(a, b, **TRAIN_TOL)


def test_padding_stats_account_for_every_real_token(rows):
    lengths = example_lengths(rows["tokens"], pad_id=0)
    stats = padding_stats(lengths, batch_size=16, row_len=48, padded_len=rows["tokens"].shape[1])
    real = stats["real_tokens_per_step"]
    assert real == pytest.approx(
        stats["tokens_per_step_packed"] * (1 - stats["padding_share_packed"])
    )
    assert real == pytest.approx(
        stats["tokens_per_step_padded"] * (1 - stats["padding_share_padded"])
    )
    assert stats["padding_share_packed"] < stats["padding_share_padded"]


def test_doc_buckets_cover_every_real_token_once_in_length_order(rows):
    batch = {k: v[:20] for k, v in rows.items()}
    packed = pack_batch(batch, example_lengths(batch["tokens"], pad_id=0), row_len=48)
    buckets = doc_buckets(packed["doc_ids"], n_buckets=4)
    real = (packed["doc_ids"].reshape(-1) != PAD_DOC).nonzero().squeeze(1)
    assert torch.equal(buckets.order.sort().values, real)
    flat = packed["doc_ids"].reshape(-1)
    for index, valid in zip(buckets.gather, buckets.valid, strict=True):
        for row, ok in zip(index, valid, strict=True):
            assert len(set(flat[row[ok]].tolist())) == 1  # one example per gathered row
    longest = [int(v.sum(1).max()) for v in buckets.valid]
    assert longest == sorted(longest)


def test_learned_positions_restart_per_packed_example(rows):
    """Learned (``standard``) position embeddings are read at each example's own positions too."""
    cfg = HookedTransformerConfig(
        n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=32, n_ctx=64, d_vocab=20,
        act_fn="silu", gated_mlp=True, normalization_type="RMS",
        positional_embedding_type="standard", seed=0,
    )  # fmt: skip
    m = use_fused_attention(HookedTransformer(cfg))
    batch = {k: v[:6] for k, v in rows.items()}
    lengths = example_lengths(batch["tokens"], pad_id=0)
    packed = pack_batch(batch, lengths, row_len=48)
    params, _ = stack_params([m])
    shape = stack_shape([m])
    buckets = doc_buckets(packed["doc_ids"])
    hidden = stacked_hidden(params, packed["tokens"], packed["positions"], buckets, None, shape)
    logits = stacked_logits(params, hidden.flatten(1, 2), shape).view(*hidden.shape[:3], -1)[0]
    for i in range(6):
        alone = m(batch["tokens"][i : i + 1, : int(lengths[i])], return_type="logits")[0]
        torch.testing.assert_close(logits[packed["doc_ids"] == i], alone, atol=1e-5, rtol=1e-5)

import pytest
import torch

from lime_lens.analysis.circuits import depthwise_circuits, router_logits, vocab_vectors

from .helpers import D_VOCAB, tiny_lime


def test_depthwise_readout_equals_brute_force_forward_of_each_token_through_the_router():
    """Patching each vocab vector in as layer l's input gives route weights = softmax(readout)."""
    model = tiny_lime("residual", "dynamic")
    vecs = vocab_vectors(model).detach()
    tokens = torch.zeros(D_VOCAB, 1, dtype=torch.long)
    for layer in range(1, model.cfg.n_layers):

        def put_vocab(resid, hook):
            return vecs[:, None, :]

        weights = {}

        def grab(route, hook, weights=weights):
            weights["w"] = route[:, 0].detach()

        model.run_with_hooks(
            tokens,
            fwd_hooks=[
                (f"blocks.{layer}.hook_resid_pre", put_vocab),
                (f"blocks.{layer}.lime.hook_route", grab),
            ],
        )
        torch.testing.assert_close(router_logits(model, layer, vecs).softmax(-1), weights["w"])


def test_depthwise_circuits_top_tokens_are_the_largest_router_logits_per_route():
    model = tiny_lime("residual", "dynamic")
    table = depthwise_circuits(model, k=5)
    assert len(table) == model.cfg.n_heads * (2 + 3)
    for row in table.itertuples():
        logits = router_logits(model, row.layer, vocab_vectors(model))[:, row.head, row.source]
        assert row.tokens == logits.argsort(descending=True)[:5].tolist()
        torch.testing.assert_close(
            torch.tensor(row.logits), logits.sort(descending=True).values[:5]
        )


def test_vocab_vectors_divide_by_the_final_norm_gain_like_the_paper(unchecked):
    model = tiny_lime("residual", "dynamic")
    torch.testing.assert_close(
        vocab_vectors(model, "embed_over_final_norm"), model.W_E / model.ln_final.w
    )
    torch.testing.assert_close(vocab_vectors(model), model.W_U.T / model.ln_final.w)
    with pytest.raises(ValueError, match="kind"):
        vocab_vectors(model, "unembed")


@pytest.mark.parametrize("mode,lookup", [("kv", "static"), ("residual", "static")])
def test_depthwise_circuits_refuse_static_routers(mode, lookup):
    with pytest.raises(ValueError, match="dynamic"):
        router_logits(tiny_lime(mode, lookup), 1, torch.zeros(2, 16))

"""Gradient checkpointing of LIMeForCausalLM: the recomputed layers give the plain gradients.

A LIMe layer reads the raw K/V of every earlier layer, so the claim is that recomputing a layer
in the backward pass neither files its K/V row twice nor cuts the earlier rows' gradients, with
either of torch's checkpoint modes (transformers' default is ``use_reentrant=False``; the reentrant
mode reaches only positional tensor inputs).
"""

import pytest
import torch
from torch.testing import assert_close

from lime_lens.hf.modeling import CACHE_FIELD
from lime_lens.hf.tiny import tiny_lime_model

pytestmark = pytest.mark.tl4  # no TransformerLens import: runs under transformer-lens 4 too

IDS = torch.randint(1, 4096, (2, 13), generator=torch.Generator().manual_seed(0))


def _loss_and_grads(model: torch.nn.Module) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad()
    loss = model(IDS, labels=IDS).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("reentrant", [False, True])
@pytest.mark.parametrize(
    ("router", "learned_routes"),
    [
        ({}, True),  # static kv routes over all earlier layers (paper v2 §4)
        ({"lime_sources": "last_j", "lime_sources_j": 2}, True),  # App. D
        ({"lime_sources": "average"}, False),  # a fixed uniform mix: no route parameters
    ],
)
def test_checkpointed_gradients_equal_the_plain_gradients(router, learned_routes, reentrant):
    plain = tiny_lime_model(seed=3, **router).train()
    checkpointed = tiny_lime_model(seed=3, **router).train()
    checkpointed.gradient_checkpointing_enable({"use_reentrant": reentrant})
    loss, grads = _loss_and_grads(plain)
    loss_ckpt, grads_ckpt = _loss_and_grads(checkpointed)
    assert_close(loss_ckpt, loss, atol=0, rtol=0)
    assert grads_ckpt.keys() == grads.keys()
    assert any(".lime." in name for name in grads) == learned_routes
    for name, grad in grads.items():
        assert_close(grads_ckpt[name], grad, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize("reentrant", [False, True])
def test_checkpointing_recomputes_every_layer_in_the_backward(reentrant):
    """Each layer starts twice per step when checkpointed: the forward, then the recompute (a
    pre-hook: torch's non-reentrant recompute stops once it has the saved tensors it needs, before
    the layer's last module returns)."""
    model = tiny_lime_model(seed=3).train()
    model.gradient_checkpointing_enable({"use_reentrant": reentrant})
    calls = [0] * len(model.model.layers)
    for i, layer in enumerate(model.model.layers):
        layer.input_layernorm.register_forward_pre_hook(
            lambda *_, i=i: calls.__setitem__(i, calls[i] + 1)
        )
    model(IDS, labels=IDS).loss.backward()
    assert calls == [2] * len(model.model.layers)


def test_checkpointed_training_runs_without_the_cache():
    """A recomputed layer would append to the cache again, so training drops it; eval keeps it."""
    model = tiny_lime_model(seed=3).train()
    model.gradient_checkpointing_enable()
    assert getattr(model(IDS, labels=IDS, use_cache=True), CACHE_FIELD) is None
    with torch.no_grad():
        kept = getattr(model.eval()(IDS, use_cache=True), CACHE_FIELD)
    assert kept is not None and kept.get_seq_length() == IDS.shape[1]

"""``forward(resid, start_at_layer=s)``: vanilla TransformerLens semantics wherever they are exact
for LIMe (s = None, 0, -n_layers, n_layers); every other start raises, since layer l routes what
earlier layers computed (v2 §4, v1 §3) and a run starting at l never computes it."""

import pytest
import torch
from lime_helpers import MODES, build, gpt2_cfg, llama_cfg, tokens, vanilla_twin
from torch.testing import assert_close

CFGS = {"gpt2": gpt2_cfg, "llama": llama_cfg}


def _model(cfg_name, mode):
    return build(CFGS[cfg_name](lime_mode=mode[0], lime_lookup=mode[1]))


def _final_and_embedding_resid(model, toks):
    _, cache = model.run_with_cache(toks)
    n = model.cfg.n_layers
    return cache[f"blocks.{n - 1}.hook_resid_post"], cache["blocks.0.hook_resid_pre"]


@pytest.mark.parametrize("cfg_name", CFGS)
@pytest.mark.parametrize("mode", MODES)
def test_start_at_n_layers_runs_no_block_only_ln_final_and_unembed(cfg_name, mode):
    model, toks = _model(cfg_name, mode), tokens()
    final, _ = _final_and_embedding_resid(model, toks)
    n = model.cfg.n_layers
    logits = model(final, start_at_layer=n)
    assert_close(logits, model.unembed(model.ln_final(final)), atol=0, rtol=0)
    assert_close(logits, model(toks), atol=1e-5, rtol=1e-5)
    assert_close(logits, vanilla_twin(model)(final, start_at_layer=n), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("cfg_name", CFGS)
@pytest.mark.parametrize("mode", MODES)
def test_start_at_zero_and_minus_n_layers_run_every_block_from_the_embedding(cfg_name, mode):
    model, toks = _model(cfg_name, mode), tokens()
    _, embedded = _final_and_embedding_resid(model, toks)
    full = model(toks)
    for start in (0, -model.cfg.n_layers):
        assert_close(model(embedded, start_at_layer=start), full, atol=1e-6, rtol=1e-6)


def test_vanilla_transformer_lens_has_the_same_semantics_for_these_starts():
    """Grounds the claims above: vanilla runs blocks[start:], so -n_layers == 0 and n_layers only
    unembeds."""
    vanilla, toks = vanilla_twin(build(llama_cfg())), tokens()
    _, cache = vanilla.run_with_cache(toks)
    n = vanilla.cfg.n_layers
    embedded, final = cache["blocks.0.hook_resid_pre"], cache[f"blocks.{n - 1}.hook_resid_post"]
    assert_close(vanilla(embedded, start_at_layer=-n), vanilla(embedded, start_at_layer=0))
    assert_close(vanilla(final, start_at_layer=n), vanilla.unembed(vanilla.ln_final(final)))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("start", ["n", "0", "-n"])
def test_loss_and_both_with_tokens_equal_the_token_forward(mode, start):
    model, toks = _model("gpt2", mode), tokens()
    final, embedded = _final_and_embedding_resid(model, toks)
    n = model.cfg.n_layers
    resid, layer = {"n": (final, n), "0": (embedded, 0), "-n": (embedded, -n)}[start]
    loss = model(resid, start_at_layer=layer, tokens=toks, return_type="loss")
    assert_close(loss, model(toks, return_type="loss"), atol=1e-6, rtol=1e-6)
    per_token = model(
        resid, start_at_layer=layer, tokens=toks, return_type="loss", loss_per_token=True
    )
    assert per_token.shape == (toks.shape[0], toks.shape[1] - 1)
    logits, both_loss = model(resid, start_at_layer=layer, tokens=toks, return_type="both")
    assert_close(both_loss, loss, atol=0, rtol=0)
    assert_close(logits, model(resid, start_at_layer=layer), atol=0, rtol=0)
    assert model(resid, start_at_layer=layer, return_type=None) is None
    if start == "n":  # vanilla's loss on the same residual (same ln_final, unembed and loss_fn)
        vanilla_loss = vanilla_twin(model)(resid, start_at_layer=n, tokens=toks, return_type="loss")
        assert_close(loss, vanilla_loss, atol=1e-6, rtol=1e-6)


def test_loss_without_tokens_raises():
    model = build(gpt2_cfg())
    final, _ = _final_and_embedding_resid(model, tokens())
    with pytest.raises(ValueError, match="tokens"):
        model(final, start_at_layer=model.cfg.n_layers, return_type="loss")


@pytest.mark.parametrize("mode", MODES)
def test_start_at_n_layers_fires_the_same_hooks_as_vanilla(mode):
    model, toks = _model("llama", mode), tokens()
    final, _ = _final_and_embedding_resid(model, toks)
    n = model.cfg.n_layers
    _, cache = model.run_with_cache(final, start_at_layer=n)
    _, vanilla_cache = vanilla_twin(model).run_with_cache(final, start_at_layer=n)
    assert set(cache.keys()) == set(vanilla_cache.keys())
    assert not any(name.startswith("blocks.") for name in cache.keys())


def test_start_and_stop_slice_the_blocks_as_vanilla():
    model, toks = build(llama_cfg()), tokens()
    _, cache = model.run_with_cache(toks)
    n = model.cfg.n_layers
    embedded, final = cache["blocks.0.hook_resid_pre"], cache[f"blocks.{n - 1}.hook_resid_post"]
    assert_close(
        model(embedded, start_at_layer=0, stop_at_layer=2), cache["blocks.2.hook_resid_pre"]
    )
    assert_close(
        model(embedded, start_at_layer=-n, stop_at_layer=-1),
        cache[f"blocks.{n - 1}.hook_resid_pre"],
    )
    assert torch.equal(model(final, start_at_layer=n, stop_at_layer=n), final)


@pytest.mark.parametrize("mode", MODES)
def test_every_other_start_raises_naming_start_at_layer(mode):
    model = _model("llama", mode)
    n = model.cfg.n_layers
    resid = torch.zeros(1, 3, model.cfg.d_model)
    bad = [*range(1, n), *range(-n + 1, 0), n + 1, -n - 1, 2 * n, -2 * n]
    for start in bad:
        with pytest.raises(ValueError, match=f"start_at_layer={start} is not supported"):
            model(resid, start_at_layer=start)


def test_tokens_as_input_with_start_at_layer_raise_naming_the_residual():
    model, toks = build(gpt2_cfg()), tokens()
    with pytest.raises(ValueError, match=r"residual stream \[batch, pos, d_model\]"):
        model(toks, start_at_layer=0)

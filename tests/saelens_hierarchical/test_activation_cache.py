"""The in-memory activation cache: SAELens's format, live-equal values, LIMe 4-D route hooks, and
stock-runner training from the cache equal to training from the live model."""

import datasets
import pytest
import torch
from htopk_helpers import CTX, D_MODEL, HOOK, runner_config, tiny_model, token_dataset
from sae_lens import SAE, LanguageModelSAETrainingRunner, TopKSAE, TopKSAEConfig
from sae_lens.saes.sae import SAEMetadata
from torch.testing import assert_close

from lime_lens.assets import load_tiny_dynamic_model
from saelens_hierarchical.activation_cache import (
    cache_activations,
    cached_activations_store,
    check_hook_width,
    hook_width,
    sae_input,
)


def _cache(model, data, hook, tmp_path, n_rows, **kwargs):
    out = cache_activations(
        model,
        data,
        hook,
        n_tokens=n_rows * CTX,
        context_size=CTX,
        out_dir=tmp_path / "cache",
        model_batch_size=4,
        **kwargs,
    )
    return out, datasets.load_from_disk(str(out)).with_format("torch")


def test_cache_holds_the_live_activations_and_tokens_in_dataset_order(tmp_path):
    model, data = tiny_model(), token_dataset(12)
    out, cached = _cache(model, data, HOOK, tmp_path, 12)
    tokens = torch.tensor(data[:]["tokens"])
    _, live = model.run_with_cache(tokens, names_filter=[HOOK])
    assert cached.features[HOOK].shape == (CTX, D_MODEL)  # SAELens's Array2D schema
    assert_close(cached[:][HOOK], live[HOOK])
    assert_close(cached[:]["token_ids"].long(), tokens)
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]  # no temp folder left beside it


def test_lime_route_hook_is_cached_per_head_with_hook_head_index(tmp_path):
    model = load_tiny_dynamic_model()
    hook, head = "blocks.2.lime.hook_route", 1  # [batch, pos, n_kv, n_src]: per-token route
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, model.cfg.d_vocab, (8, CTX), generator=g)
    data = datasets.Dataset.from_dict({"tokens": tokens.tolist()})
    assert hook_width(model, hook) == 4 * 3 and hook_width(model, hook, head) == 3
    _, cached = _cache(model, data, hook, tmp_path, 8, hook_head_index=head)
    _, live = model.run_with_cache(tokens, names_filter=[hook])
    assert_close(cached[:][hook], live[hook][:, :, head])


def test_sae_input_reads_a_4d_hook_as_the_saelens_store_caches_it(tmp_path):
    """The tools that hook the model themselves (delphi, SAEDashboard) feed the SAE through
    ``sae_input``; it must match what SAELens's store trains on: all heads flattened."""
    model = load_tiny_dynamic_model()
    hook = "blocks.2.lime.hook_route"
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(1, model.cfg.d_vocab, (4, CTX), generator=g)
    data = datasets.Dataset.from_dict({"tokens": tokens.tolist()})
    _, cached = _cache(model, data, hook, tmp_path, 4)
    _, live = model.run_with_cache(tokens, names_filter=[hook])
    assert_close(sae_input(live[hook]), cached[:][hook])
    assert_close(sae_input(live[hook], 2), live[hook][:, :, 2])
    resid = torch.randn(2, CTX, 8)
    assert sae_input(resid) is resid  # a 3-D hook is read as it is


def test_an_sae_that_does_not_read_its_hook_is_named_with_the_stored_width():
    model = load_tiny_dynamic_model()
    meta = SAEMetadata(hook_name="blocks.2.lime.hook_route", hook_head_index=1)
    check_hook_width(TopKSAE(TopKSAEConfig(d_in=3, d_sae=8, k=2, metadata=meta)), model)
    meta = SAEMetadata(hook_name="blocks.2.lime.hook_route")
    with pytest.raises(ValueError, match=r"SAE d_in=3 does not read hook .*12 wide"):
        check_hook_width(TopKSAE(TopKSAEConfig(d_in=3, d_sae=8, k=2, metadata=meta)), model)


def test_hooks_without_a_per_token_axis_or_a_bad_head_are_refused(tmp_path):
    model = load_tiny_dynamic_model()
    with pytest.raises(ValueError, match="hook_head_index=4"):
        hook_width(model, "blocks.2.lime.hook_route", 4)
    with pytest.raises(ValueError, match="hook_head_index=0"):
        hook_width(model, "blocks.1.hook_resid_post", 0)
    with pytest.raises(ValueError, match="hook_name 'blocks.9.hook_resid_post'"):
        hook_width(model, "blocks.9.hook_resid_post")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(ValueError, match="out_dir .*full exists and is not empty"):
        cache_activations(
            model, token_dataset(4), "blocks.1.hook_resid_post", 64, CTX, tmp_path / "full"
        )


def test_kv_route_hook_has_no_per_token_axis_and_is_refused():
    from lime_lens.assets import load_tiny_lime_model

    with pytest.raises(ValueError, match="no per-token"):
        hook_width(load_tiny_lime_model(), "blocks.2.lime.hook_route")


def test_stock_runner_trains_the_same_hierarchical_sae_from_the_cache_as_from_the_live_model(
    tmp_path,
):
    data = token_dataset(64)
    cache, _ = _cache(tiny_model(), data, HOOK, tmp_path, 64)
    trained = {}
    for name, extra in {
        "live": {},
        "cached": {"use_cached_activations": True, "cached_activations_path": str(cache)},
    }.items():
        cfg = runner_config(tmp_path / name, **extra)
        LanguageModelSAETrainingRunner(
            cfg, override_dataset=data, override_model=tiny_model()
        ).run()
        trained[name] = SAE.load_from_disk(tmp_path / name / "output")
    for param in ("W_enc", "b_enc", "W_dec", "b_dec"):
        assert_close(getattr(trained["cached"], param), getattr(trained["live"], param))
    # the comparison is sensitive: other tokens, same seed, give another SAE
    cfg = runner_config(tmp_path / "other")
    LanguageModelSAETrainingRunner(
        cfg, override_dataset=token_dataset(64, seed=1), override_model=tiny_model()
    ).run()
    other = SAE.load_from_disk(tmp_path / "other" / "output")
    assert (other.W_dec - trained["live"].W_dec).abs().max() > 1e-3
    store = cached_activations_store(cache, tiny_model(), HOOK, CTX, train_batch_size_tokens=32)
    assert next(store.get_data_loader()).shape == (32, D_MODEL)

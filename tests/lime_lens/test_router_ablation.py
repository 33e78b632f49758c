"""Routing ablations (paper v2 App. D, Table 7): ``LIMeConfig.lime_sources`` restricts what each
layer reads; "full" is today's router bit for bit, the others are the full router with entries 0."""

import copy

import pytest
import torch
from lime_helpers import build, llama_cfg, tokens
from torch.testing import assert_close

from lime_lens import HookedLIMeTransformer, LIMeConfig
from lime_lens.analysis import route_ablation_table, routing_heatmaps_for
from lime_lens.router_registry import router_class
from lime_lens.routers import KVAverageRouter, KVSourceRouter, KVStaticRouter, kv_source_layers
from lime_lens.serialization import config_from_json_dict, config_to_json_dict
from lime_lens.train import TrainConfig, train
from lime_lens.train.architectures import ModelShape, build_model, count_params, source_arches
from lime_lens.train.cli import main as train_cli
from lime_lens.train.trainer import param_groups

RESTRICTED = [("average", 2), ("last_j", 2), ("first_j", 2), ("last_j", 1), ("first_j", 1)]


def _cfg(sources: str = "full", j: int = 2, **overrides) -> LIMeConfig:
    return llama_cfg(n_layers=5, lime_sources=sources, lime_sources_j=j, **overrides)


def _full_twin(model: HookedLIMeTransformer) -> HookedLIMeTransformer:
    """A full-router model with the same weights and R^l = the restricted model's full route."""
    full = HookedLIMeTransformer(_cfg()).eval()
    state = {k: v for k, v in model.state_dict().items() if ".lime." not in k}
    for layer in range(1, model.cfg.n_layers):
        state[f"blocks.{layer}.lime.route"] = model.blocks[layer].lime.full_route().detach()
    full.load_state_dict(state, strict=True)
    return full


def test_defaults_are_the_full_router_and_old_saved_configs_load():
    cfg = llama_cfg()
    assert (cfg.lime_sources, cfg.lime_sources_j) == ("full", 2)
    old = config_to_json_dict(cfg)
    del old["lime_sources"], old["lime_sources_j"]  # a config saved before these fields
    loaded = config_from_json_dict(LIMeConfig, old)
    assert (loaded.lime_sources, loaded.lime_sources_j) == ("full", 2)
    again = config_from_json_dict(LIMeConfig, config_to_json_dict(_cfg("first_j", 3)))
    assert (again.lime_sources, again.lime_sources_j) == ("first_j", 3)


@pytest.mark.parametrize(
    "overrides, field",
    [
        (dict(lime_sources="middle"), "lime_sources"),
        (dict(lime_sources_j=0), "lime_sources_j"),
        (dict(lime_sources="last_j", lime_mode="residual"), "lime_sources"),
        (dict(lime_sources="average", lime_mode="residual", lime_lookup="dynamic"), "lime_sources"),
    ],
)
def test_bad_values_raise_naming_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        llama_cfg(**overrides)


def test_a_non_integer_j_raises_naming_the_field(unchecked):
    with pytest.raises(ValueError, match="lime_sources_j"):
        llama_cfg(lime_sources="last_j", lime_sources_j=2.0)


def test_source_layers_follow_the_documented_reading():
    assert [kv_source_layers("last_j", 2, layer) for layer in (1, 2, 4)] == [
        (0, 1),
        (1, 2),
        (3, 4),
    ]
    assert [kv_source_layers("first_j", 2, layer) for layer in (1, 2, 4)] == [
        (0, 1),
        (0, 1, 2),
        (0, 1, 4),
    ]
    assert kv_source_layers("first_j", 1, 3) == (0, 3)
    assert kv_source_layers("average", 2, 3) == kv_source_layers("full", 2, 3) == (0, 1, 2, 3)


def test_full_is_todays_model_bit_for_bit():
    today, explicit = build(llama_cfg()), build(llama_cfg(lime_sources="full", lime_sources_j=5))
    assert type(explicit.blocks[1].lime) is KVStaticRouter
    assert today.state_dict().keys() == explicit.state_dict().keys()
    assert all(torch.equal(v, explicit.state_dict()[k]) for k, v in today.state_dict().items())
    toks = tokens()
    assert torch.equal(today(toks), explicit(toks))


@pytest.mark.parametrize("sources, j", RESTRICTED)
def test_unread_entries_are_absent_so_they_cost_no_parameters(sources, j):
    cfg = _cfg(sources, j)
    model = build(cfg)
    n_kv, full_params = cfg.n_kv_heads, count_params(build(_cfg()))
    read = 0
    for layer in range(1, cfg.n_layers):
        lime = model.blocks[layer].lime
        assert type(lime) is router_class(cfg)
        n_read = 0 if sources == "average" else len(kv_source_layers(sources, j, layer))
        own = [p.shape for n, p in lime.named_parameters()]
        assert own == ([] if sources == "average" else [(n_kv, n_read, n_kv)])
        read += n_read
    absent = n_kv * n_kv * sum(layer + 1 for layer in range(1, cfg.n_layers)) - n_kv * n_kv * read
    assert count_params(model) == full_params - absent
    lime_keys = [k for k in model.state_dict() if ".lime." in k]
    assert lime_keys == (
        [] if sources == "average" else [f"blocks.{n}.lime.route" for n in range(1, 5)]
    )


@pytest.mark.parametrize("sources, j", RESTRICTED)
def test_restricted_routers_equal_the_full_router_with_the_unread_entries_zero(sources, j):
    model = build(_cfg(sources, j))
    toks = tokens()
    with torch.no_grad():
        assert torch.equal(model(toks), _full_twin(model)(toks))
    for layer in range(1, 5):
        route = model.blocks[layer].lime.full_route()
        unread = [s for s in range(layer + 1) if s not in kv_source_layers(sources, j, layer)]
        assert route[:, unread].abs().sum() == 0


def test_average_is_the_hand_computed_per_head_mean_over_layers():
    model = build(_cfg("average"))
    assert type(model.blocks[2].lime) is KVAverageRouter
    _, cache = model.run_with_cache(tokens())
    for layer in range(1, 5):
        for kind in ("k", "v"):
            raws = [cache[f"blocks.{s}.attn.hook_{kind}_raw"] for s in range(layer + 1)]
            expected = torch.stack(raws).mean(0)  # [batch, pos, n_kv, d_head]
            assert_close(cache[f"blocks.{layer}.attn.hook_{kind}"], expected)


def test_gradients_reach_only_the_read_entries_and_the_average_learns_nothing():
    model = build(_cfg("first_j", 2)).train()
    model(tokens(), return_type="loss").backward()
    for layer in range(1, 5):
        route = model.blocks[layer].lime.route
        assert route.grad is not None and route.grad.shape == route.shape
        assert route.grad.abs().sum() > 0
    groups = {g["name"]: g for g in param_groups(model, TrainConfig())}
    assert sum(p.numel() for p in groups["router"]["params"]) == 4 * (2 + 3 + 3 + 3)
    average = build(_cfg("average"))
    assert "router" not in {g["name"] for g in param_groups(average, TrainConfig())}


@pytest.mark.parametrize("sources", ["average", "last_j"])
def test_hook_route_has_the_full_shape_and_patching_it_changes_the_output(sources):
    model = build(_cfg(sources, 2))
    toks = tokens()
    _, cache = model.run_with_cache(toks)
    assert cache["blocks.3.lime.hook_route"].shape == (2, 2, 4, 2)  # [batch, n_kv, n_src, n_kv]

    def unread_to_one(route, hook):
        route = route.clone()
        route[:, :, 0] = 1.0  # unread (last_j) or fixed (average): the route is read after the hook
        return route

    patched = model.run_with_hooks(toks, fwd_hooks=[("blocks.3.lime.hook_route", unread_to_one)])
    assert (patched - model(toks)).abs().max() > 1e-4


@pytest.mark.parametrize("sources", ["average", "last_j", "first_j"])
def test_weight_processing_keeps_log_probs(sources):
    model = build(_cfg(sources, 2))
    toks = tokens()
    with torch.no_grad():
        before = model(toks).log_softmax(-1)
        model.process_weights_(fold_ln=True, center_writing_weights=True, center_unembed=True)
        assert all(block.attn.b_V.abs().max() == 0 for block in model.blocks)  # really folded
        assert_close(model(toks).log_softmax(-1), before, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="refactor_factored_attn_matrices"):
        copy.deepcopy(model).process_weights_(refactor_factored_attn_matrices=True)


@pytest.mark.parametrize("sources", ["average", "first_j"])
def test_save_and_load_round_trip_is_exact(sources, tmp_path):
    model = build(_cfg(sources, 2))
    model.save_pretrained(tmp_path / "m")
    loaded = HookedLIMeTransformer.from_pretrained(tmp_path / "m")
    assert (loaded.cfg.lime_sources, loaded.cfg.lime_sources_j) == (sources, 2)
    toks = tokens()
    assert torch.equal(loaded(toks), model(toks))


def test_routing_heatmaps_and_route_ablation_see_the_unread_sources_as_zero():
    model = build(_cfg("last_j", 2))
    maps = routing_heatmaps_for(model)
    assert maps.per_layer[4, :3].abs().max() == 0 and maps.per_layer[4, 3:].sum() > 0
    assert maps.per_layer[4].sum() == pytest.approx(1.0)
    table = route_ablation_table(model, tokens(2, 6), layers=[3])
    absent = table[table["source"] < 2]
    assert len(absent) == 2 * 2 and (absent["delta_loss"].abs() < 1e-5).all()  # float noise only
    assert (table[table["source"] >= 2]["delta_loss"].abs() > 1e-4).any()


def test_build_model_and_the_cli_arch_names_build_the_ablations():
    shape = ModelShape(
        n_layers=3, d_model=16, n_heads=2, n_key_value_heads=1, d_head=8, d_mlp=32, n_ctx=16
    )
    for arch in ("lime-kv-average", "lime-kv-last2", "lime-kv-first4"):
        assert arch in source_arches()
    by_name = build_model("lime-kv-last2", shape, d_vocab=20)
    by_flag = build_model("lime-kv", shape, d_vocab=20, lime_sources="last_j", lime_sources_j=2)
    assert by_name.cfg.lime_sources == by_flag.cfg.lime_sources == "last_j"
    assert all(torch.equal(v, by_flag.state_dict()[k]) for k, v in by_name.state_dict().items())
    assert build_model("lime-kv-first3", shape, d_vocab=20).cfg.lime_sources_j == 3
    assert type(build_model("lime-kv-average", shape, d_vocab=20).blocks[1].lime) is KVAverageRouter
    assert type(build_model("lime-kv", shape, d_vocab=20).blocks[1].lime) is KVStaticRouter
    with pytest.raises(ValueError, match="lime_sources"):
        build_model("vanilla", shape, d_vocab=20, lime_sources="average")


@pytest.mark.parametrize("arch", ["lime-kv-average", "lime-kv-first2"])
def test_the_ablations_train(arch):
    shape = ModelShape(
        n_layers=3, d_model=16, n_heads=2, n_key_value_heads=1, d_head=8, d_mlp=32, n_ctx=16
    )
    model = build_model(arch, shape, d_vocab=20)
    rows = torch.randint(0, 20, (32, 9), generator=torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = train(
        model,
        TrainConfig(max_steps=3, batch_size=4, warmup_steps=1, eval_interval=0, progress=False),
        rows,
    )
    assert len(result.train_losses) == 3
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert ("blocks.2.lime.route" in changed) == (arch != "lime-kv-average")
    assert isinstance(model.blocks[1].lime, KVAverageRouter | KVSourceRouter)


@pytest.mark.parametrize(
    "flags, j",
    [
        (["--arch", "lime-kv", "--lime-sources", "last_j", "--lime-sources-j", "1"], 1),
        (["--arch", "lime-kv-last2"], 2),
    ],
)
def test_the_training_cli_builds_trains_and_saves_an_ablation(flags, j, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("It is a truth universally acknowledged.\n" * 200)
    shape = [
        "--n-layers",
        "3",
        "--d-model",
        "16",
        "--n-heads",
        "2",
        "--d-head",
        "8",
        "--d-mlp",
        "32",
    ]
    rest = ["--n-ctx", "16", "--context-size", "16", "--batch-size", "2", "--max-steps", "2"]
    rest += ["--warmup-steps", "1", "--eval-interval", "0", "--no-progress", "--device", "cpu"]
    train_cli([*flags, "--out", str(tmp_path / "run"), "--text-file", str(text), *shape, *rest])
    model = HookedLIMeTransformer.from_pretrained(tmp_path / "run" / "model")
    assert (model.cfg.lime_sources, model.cfg.lime_sources_j) == ("last_j", j)
    assert model.blocks[2].lime.route.shape == (2, j, 2)  # layer 2 reads layers 3-j..2

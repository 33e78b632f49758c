"""The router registry: every built-in router keeps its declarations, and a router defined in a test
file alone (paper v1 App. D "fixed average") builds, runs, hooks, folds, saves and trains."""

import re

import pytest
import torch
from lime_helpers import MODES, build, gpt2_cfg, llama_cfg, tokens
from torch.testing import assert_close

from lime_lens import HookedLIMeTransformer, LIMeConfig, router_registry
from lime_lens.routers import LIMeRouter, ResidualRouter
from lime_lens.train.architectures import ModelShape, build_model
from lime_lens.train.config import TrainConfig


class FixedAverageRouter(ResidualRouter):
    """v1 App. D "fixed average": every head reads the plain mean of the normalised sources."""

    param_names = ()

    def __init__(self, cfg: LIMeConfig, layer: int):
        super().__init__(cfg, layer)
        self.n_kv = cfg.n_kv_heads
        self.add_hooks()

    def reset_parameters(self) -> None:
        pass  # nothing to learn

    def weights(self, normed: torch.Tensor) -> torch.Tensor:
        batch, _, n_src, _ = normed.shape
        return normed.new_full((batch, self.n_kv, n_src), 1.0 / n_src)


@pytest.fixture
def fixed_average(monkeypatch):
    """Register the toy for one test only (the registry is module state)."""
    monkeypatch.setattr(router_registry, "_ROUTERS", dict(router_registry._ROUTERS))
    router_registry.register_router("residual", "fixed_average", FixedAverageRouter)
    return FixedAverageRouter


@pytest.mark.parametrize("mode, lookup", MODES)
def test_builtin_routers_declare_what_they_build(mode, lookup):
    cfg = llama_cfg(lime_mode=mode, lime_lookup=lookup)
    router_cls = router_registry.router_class(cfg)
    assert issubclass(router_cls, LIMeRouter)
    model = build(cfg)
    router = model.blocks[2].lime
    assert type(router) is router_cls
    own = {n for n, _ in router.named_parameters() if not n.startswith("ln.")}  # ln: the LIMe norm
    assert own == set(router_cls.param_names)
    regex = re.compile(TrainConfig().router_param_regex)  # the router lr group (App. A)
    assert all(regex.search(f"blocks.2.lime.{n}") for n in router_cls.param_names)
    _, cache = model.run_with_cache(tokens(2, 5))
    for hook in router_cls.hook_names:
        assert f"blocks.2.lime.{hook}" in cache.keys()
    route = cache["blocks.2.lime.hook_route"]
    assert route.ndim == len(router_cls.route_dims)
    assert router_cls.per_token == ("pos" in router_cls.route_dims)
    sizes = {"batch": 2, "pos": 5, "n_kv": 2, "n_src": 3, "n_kv_src": 2}
    assert tuple(route.shape) == tuple(sizes[d] for d in router_cls.route_dims)
    assert ("blocks.0.attn.hook_k_raw" in cache.keys()) == router_cls.raw_kv_hooks


def test_a_vanilla_config_selects_no_router_and_a_taken_key_is_refused(fixed_average):
    from transformer_lens import HookedTransformerConfig

    vanilla = HookedTransformerConfig(n_layers=1, d_model=8, d_head=4, n_ctx=8, act_fn="relu")
    with pytest.raises(AttributeError):
        router_registry.router_class(vanilla)
    router_registry.register_router("residual", "fixed_average", FixedAverageRouter)  # same: no-op
    with pytest.raises(ValueError, match="already"):
        router_registry.register_router("residual", "static", FixedAverageRouter)


def test_an_unregistered_lookup_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="lime_lookup"):
        gpt2_cfg(lime_mode="residual", lime_lookup="fixed_average")


def test_a_router_registered_from_a_test_file_equals_a_uniform_static_router(fixed_average):
    cfg = gpt2_cfg(lime_mode="residual", lime_lookup="fixed_average")
    model = build(cfg)
    static = HookedLIMeTransformer(gpt2_cfg(lime_mode="residual", lime_lookup="static")).eval()
    state = model.state_dict()
    for layer in range(1, cfg.n_layers):
        state[f"blocks.{layer}.lime.route"] = torch.zeros(cfg.n_kv_heads, layer + 1)
    static.load_state_dict(state, strict=True)
    toks = tokens()
    assert_close(model(toks), static(toks))
    _, cache = model.run_with_cache(toks)
    assert_close(cache["blocks.2.lime.hook_route"], torch.full((2, cfg.n_kv_heads, 3), 1 / 3))
    assert not [
        n for n, _ in model.named_parameters() if ".lime." in n and not n.endswith((".w", ".b"))
    ]


def test_a_registered_router_folds_saves_loads_and_trains(fixed_average, tmp_path):
    model = build(llama_cfg(lime_mode="residual", lime_lookup="fixed_average"))
    toks = tokens()
    before = model(toks).log_softmax(-1)
    model.process_weights_()  # ln_fold "lime_norm", inherited from ResidualRouter: exact
    assert_close(model(toks).log_softmax(-1), before, atol=1e-4, rtol=0)
    model.save_pretrained(tmp_path / "m")
    loaded = HookedLIMeTransformer.from_pretrained(tmp_path / "m")
    assert_close(loaded(toks), model(toks))
    shape = ModelShape(
        n_layers=2, d_model=16, n_heads=2, n_key_value_heads=1, d_head=8, d_mlp=32, n_ctx=16
    )
    trainable = build_model("lime-residual-fixed_average", shape, d_vocab=20)
    assert type(trainable.blocks[1].lime) is FixedAverageRouter

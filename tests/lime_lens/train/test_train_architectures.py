import pytest
from transformer_lens import HookedTransformer

from lime_lens import HookedLIMeTransformer, LIMeConfig
from lime_lens.train.architectures import ARCHES, ModelShape, build_model, count_params

SHAPE = ModelShape(
    n_layers=3, d_model=32, n_heads=4, n_key_value_heads=2, d_head=8, d_mlp=64, n_ctx=16
)


def test_vanilla_is_a_llama_style_hooked_transformer():
    model = build_model("vanilla", SHAPE, d_vocab=50)
    assert type(model) is HookedTransformer
    cfg = model.cfg
    assert (cfg.normalization_type, cfg.positional_embedding_type, cfg.act_fn, cfg.gated_mlp) == (
        "RMS",
        "rotary",
        "silu",
        True,
    )
    assert cfg.n_key_value_heads == 2 and cfg.d_vocab == 50


@pytest.mark.parametrize(
    ("arch", "mode", "lookup"),
    [
        ("lime-kv", "kv", "static"),
        ("lime-residual-static", "residual", "static"),
        ("lime-residual-dynamic", "residual", "dynamic"),
        ("lime-residual-top_p", "residual", "top_p"),
    ],
)
def test_lime_archs_differ_from_the_baseline_only_by_lime_parameters(arch, mode, lookup):
    model = build_model(arch, SHAPE, d_vocab=50, lime_top_p=0.8)
    assert isinstance(model, HookedLIMeTransformer) and isinstance(model.cfg, LIMeConfig)
    assert (model.cfg.lime_mode, model.cfg.lime_lookup, model.cfg.lime_top_p) == (mode, lookup, 0.8)
    lime_params = sum(p.numel() for n, p in model.named_parameters() if ".lime." in n)
    assert lime_params > 0
    assert count_params(model) - lime_params == count_params(
        build_model("vanilla", SHAPE, d_vocab=50)
    )


def test_same_seed_same_init_and_unknown_arch_raises():
    a, b = build_model("lime-kv", SHAPE, 50, seed=3), build_model("lime-kv", SHAPE, 50, seed=3)
    assert all((x == y).all() for x, y in zip(a.parameters(), b.parameters(), strict=True))
    with pytest.raises(ValueError, match="arch"):
        build_model("lime-v3", SHAPE, 50)
    assert len(ARCHES) == 5


def test_bad_shape_raises_naming_the_field():
    with pytest.raises(ValueError, match="n_key_value_heads"):
        ModelShape(n_heads=4, n_key_value_heads=3)
    with pytest.raises(ValueError, match="d_model"):
        ModelShape(d_model=0)

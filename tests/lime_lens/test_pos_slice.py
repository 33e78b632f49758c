"""``run_with_cache(pos_slice=p)`` slices the position axis of every hook of a LIMe model.

LIMe hooks carry KV heads or sources after the position ([batch, pos, n_kv, d], [batch, pos,
n_src, d]); static routes have no position axis and are cached whole. TransformerLens' own suffix
rule (dim -3 for hook_q/k/v/z/result, else -2) would slice a head or source axis there. Every
expectation below is the full cache sliced by hand on the axis the README's hook table gives.
"""

import pytest
from lime_helpers import MODES, build, gpt2_cfg, llama_cfg, tokens, vanilla_twin
from sae_lens import StandardSAE, StandardSAEConfig
from sae_lens.saes.sae import SAEMetadata
from torch.testing import assert_close
from transformer_lens.utilities import Slice

from lime_lens import HookedSAELIMeTransformer

CFGS = {"gpt2": gpt2_cfg, "llama": llama_cfg}
POS = 12

# Position axis (batch = 0) of each LIMe hook, from the README hook table; None: no position axis.
LIME_AXES = {
    "attn.hook_k_raw": 1,  # [batch, pos, n_kv, d_head]
    "attn.hook_v_raw": 1,
    "lime.hook_kv_in": 1,  # [batch, pos, n_kv, d_model]
    "lime.ln.hook_scale": 1,  # [batch, pos, n_src, 1]
    "lime.ln.hook_normalized": 1,  # [batch, pos, n_src, d_model]
    "attn.hook_rot_q": 1,  # [batch, pos, n_heads, d_head]: TransformerLens' rule picks the heads
    "attn.hook_rot_k": 1,  # [batch, pos, n_kv, d_head] (the routed keys, after rotary)
}
ROUTE_AXIS = {"static": None, "top_p": None, "dynamic": 1}  # kv: [batch, n_kv, n_src, n_kv]
# Bigger than n_kv (4 in gpt2, 2 in llama) and n_src (<= 4): the IndexError of the suffix rule.
SLICES = [5, -1, (2, 7), Slice((2, 7)), [0, 3, 11]]
SLICE_IDS = ["int_past_heads", "negative", "tuple", "Slice", "list"]


def _axis(model, name, remove_batch_dim=False):
    """Expected sliced axis of ``name`` (negative: counted from the end, as TransformerLens)."""
    suffix = name.split(".", 2)[-1]  # after blocks.{l}.
    if suffix == "lime.hook_route":
        axis = None if model.cfg.lime_mode == "kv" else ROUTE_AXIS[model.cfg.lime_lookup]
    elif suffix in LIME_AXES:
        axis = LIME_AXES[suffix]
    elif name.endswith(("hook_q", "hook_k", "hook_v", "hook_z", "hook_result")):
        return -3  # vanilla hooks: TransformerLens' rule
    else:
        return -2
    return None if axis is None else axis - remove_batch_dim


def _by_hand(tensor, axis, p):
    if axis is None or tensor.ndim < -axis:
        return tensor
    axis = axis % tensor.ndim
    index = slice(None)
    if isinstance(p, int):
        index = [p % tensor.shape[axis]]  # TransformerLens keeps the axis for an int
    elif isinstance(p, (tuple, Slice)):
        index = slice(2, 7)
    elif isinstance(p, list):
        index = p
    return tensor[(slice(None),) * axis + (index,)]


def _model(cfg_name, mode):
    # One attention path for every run: under "auto" a filtered cache runs fused and the full
    # cache (it holds the patterns) explicit, ~1e-7 apart; these tests pin slicing, bit for bit.
    cfg = CFGS[cfg_name](lime_mode=mode[0], lime_lookup=mode[1], attn_impl="explicit")
    return build(cfg)


def _check_sliced(model, full, sliced, p, remove_batch_dim=False):
    assert set(sliced.keys()) == set(full.keys())
    for name in full.keys():
        expected = _by_hand(
            full[name], _axis(model, name.removesuffix("_grad"), remove_batch_dim), p
        )
        assert_close(sliced[name], expected, atol=0, rtol=0, msg=name)


@pytest.mark.parametrize("cfg_name", CFGS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("p", SLICES, ids=SLICE_IDS)
def test_default_filter_slices_every_hook_on_its_position_axis(cfg_name, mode, p):
    model, toks = _model(cfg_name, mode), tokens(pos=POS)
    _, full = model.run_with_cache(toks)
    _, sliced = model.run_with_cache(toks, pos_slice=p)
    _check_sliced(model, full, sliced, p)


@pytest.mark.parametrize("mode", MODES)
def test_every_lime_hook_of_the_model_is_in_the_expectation_table(mode):
    model = _model("llama", mode)
    lime_hooks = {n.split(".", 2)[-1] for n in model.hook_dict if ".lime." in n or "_raw" in n}
    assert lime_hooks <= set(LIME_AXES) | {"lime.hook_route"}
    assert lime_hooks  # the test is not vacuous


@pytest.mark.parametrize("mode", MODES)
def test_static_routes_are_cached_whole_and_per_token_ones_sliced(mode):
    model, toks = _model("gpt2", mode), tokens(pos=POS)
    _, full = model.run_with_cache(toks)
    _, sliced = model.run_with_cache(toks, pos_slice=-1)
    route = "blocks.2.lime.hook_route"
    if mode[1] == "dynamic":
        assert sliced[route].shape == (2, 1, 4, 3)  # [batch, pos, n_kv, n_src]
    else:
        assert sliced[route].shape == full[route].shape  # no position axis
    assert (
        sliced[
            "blocks.2.lime.hook_kv_in" if mode[0] == "residual" else "blocks.2.attn.hook_k_raw"
        ].shape[1]
        == 1
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("p", [5, (2, 7)], ids=["int", "tuple"])
def test_explicit_names_filters_slice_the_same(mode, p):
    model, toks = _model("llama", mode), tokens(pos=POS)
    _, full = model.run_with_cache(toks)
    lime_names = [n for n in full.keys() if ".lime." in n or "_raw" in n or "rot_" in n]
    for names_filter in (lime_names, lambda n: n in lime_names, lime_names[-1]):
        _, sliced = model.run_with_cache(toks, pos_slice=p, names_filter=names_filter)
        kept = {n: full[n] for n in full.keys() if n in sliced.keys()}
        assert set(kept) == set(sliced.keys()) and kept
        for name, tensor in kept.items():
            assert_close(sliced[name], _by_hand(tensor, _axis(model, name), p), atol=0, rtol=0)


@pytest.mark.parametrize("cfg_name", CFGS)
@pytest.mark.parametrize("mode", MODES)
def test_remove_batch_dim_with_pos_slice(cfg_name, mode):
    model, toks = _model(cfg_name, mode), tokens(batch=1, pos=POS)
    _, full = model.run_with_cache(toks, remove_batch_dim=True)
    _, sliced = model.run_with_cache(toks, pos_slice=5, remove_batch_dim=True)
    _check_sliced(model, full, sliced, 5, remove_batch_dim=True)


@pytest.mark.parametrize("mode", [MODES[0], MODES[2]], ids=["kv", "residual-dynamic"])
def test_gradients_are_sliced_like_activations(mode):
    model, toks = _model("llama", mode), tokens(pos=POS)
    _, full = model.run_with_cache(toks, return_type="loss", incl_bwd=True)
    _, sliced = model.run_with_cache(toks, return_type="loss", incl_bwd=True, pos_slice=(2, 7))
    assert any(n.endswith("lime.hook_route_grad") for n in full.keys())
    _check_sliced(model, full, sliced, (2, 7))


def test_vanilla_rotary_hooks_are_sliced_on_heads_by_transformer_lens():
    """Why LIMe slices hook_rot_q / hook_rot_k itself: TransformerLens' rule takes their head axis."""
    vanilla = vanilla_twin(build(llama_cfg()))
    _, cache = vanilla.run_with_cache(tokens(pos=POS), pos_slice=1)
    assert cache["blocks.0.attn.hook_rot_q"].shape == (2, POS, 1, 8)
    with pytest.raises(IndexError):
        vanilla.run_with_cache(tokens(pos=POS), pos_slice=5)


# An SAE spliced at a LIMe hook keeps its host's leading axes: [batch, n_kv, n_src, d_sae] at a kv
# route (cached whole), [batch, pos, ...] at a raw K/V or a dynamic route (sliced on axis 1).
SAE_SITES = [
    (llama_cfg(), "blocks.2.lime.hook_route", 2, None),
    (llama_cfg(), "blocks.1.attn.hook_v_raw", 8, 1),
    (gpt2_cfg(lime_mode="residual", lime_lookup="dynamic"), "blocks.1.lime.hook_route", 2, 1),
]


@pytest.mark.parametrize("cfg, hook, d_in, axis", SAE_SITES, ids=[s[1] for s in SAE_SITES])
def test_hooks_of_an_sae_spliced_at_a_lime_hook_take_their_hosts_axis(cfg, hook, d_in, axis):
    model = HookedSAELIMeTransformer(cfg).eval()
    sae_cfg = StandardSAEConfig(d_in=d_in, d_sae=2 * d_in, metadata=SAEMetadata(hook_name=hook))
    sae = StandardSAE(sae_cfg)
    toks = tokens(pos=POS)
    _, full = model.run_with_cache_with_saes(toks, saes=[sae], use_error_term=True)
    _, sliced = model.run_with_cache_with_saes(toks, saes=[sae], use_error_term=True, pos_slice=5)
    sae_hooks = [n for n in full.keys() if n.startswith(f"{hook}.hook_sae_")]
    assert f"{hook}.hook_sae_acts_post" in sae_hooks
    for name in sae_hooks:
        assert_close(sliced[name], _by_hand(full[name], axis, 5), atol=0, rtol=0, msg=name)

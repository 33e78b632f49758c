"""Issue 21 item 4, the bridge link of the parity chain (fp32, 1e-5; transformer-lens 3.9):
official v2 logits (the plain-torch official forward) = LIMeForCausalLM = TransformerBridge =
HookedLIMeTransformer; every hook both the bridge and HookedLIMeTransformer expose holds the same
activations; greedy generation gives the same tokens. And SAELens's SAETransformerBridge splices
a hierarchical_topk SAE into a route hook."""

import json

import pytest

# transformer-lens < 4 only: SAELens pins it, and HookedLIMeTransformer subclasses HookedTransformer
pytest.importorskip("sae_lens")

import torch
from bridge_helpers import TOL, boot, logits, save_lime
from sae_lens import SAETransformerBridge
from safetensors.torch import save_file
from test_convert import HF_CONFIG, official_forward, official_state_dict
from torch.testing import assert_close

from lime_lens import LIMeForCausalLM
from lime_lens.hf.convert import hf_to_hooked
from lime_lens.hf.tiny import embedded_tokenizer
from saelens_hierarchical import HierarchicalTopKTrainingSAE, HierarchicalTopKTrainingSAEConfig

# The hooks of a layer l >= 1 that both models fire (docs/lime/bridge.md lists them side by side).
SHARED_BLOCK_HOOKS = {
    *(f"hook_{n}" for n in ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post")),
    *(f"{ln}.hook_{n}" for ln in ("ln1", "ln2") for n in ("scale", "normalized")),
    *(f"attn.hook_{n}" for n in ("q", "k_raw", "v_raw", "k", "v", "rot_q", "rot_k")),
    *(f"attn.hook_{n}" for n in ("attn_scores", "pattern", "z")),
    "lime.hook_route",
    *(f"mlp.hook_{n}" for n in ("pre", "pre_linear", "post")),
}
IDS = torch.randint(0, 37, (2, 9), generator=torch.Generator().manual_seed(3))


def _official_folder(folder, hf_config, state):
    folder.mkdir(parents=True)
    raw = hf_config | {"model_type": "llama", "architectures": ["LIMeForCausalLM"]}
    (folder / "config.json").write_text(json.dumps(raw | {"lime_config": {"use_lime": True}}))
    save_file(state, str(folder / "model.safetensors"))
    embedded_tokenizer().save_pretrained(folder)  # boot_transformers loads it from the folder
    return folder


@pytest.fixture(scope="module", params=[2, 4], ids=["gqa", "mha"])
def chain(request, tmp_path_factory):
    hf_config = HF_CONFIG | {"num_key_value_heads": request.param}
    state = official_state_dict(hf_config, seed=request.param)
    folder = _official_folder(tmp_path_factory.mktemp("official") / "f", hf_config, state)
    hf = LIMeForCausalLM.from_pretrained(folder)
    hf.generation_config.eos_token_id = None  # every step a plain argmax
    return dict(
        official=lambda ids: official_forward(state, hf_config, ids),
        hf=hf,
        bridge=boot(folder),  # the official folder itself, converted in memory
        hooked=hf_to_hooked(hf),
    )


def test_official_logits_equal_hf_lime_equal_bridge_equal_hooked_lime(chain):
    bridge = logits(chain["bridge"], IDS)
    with torch.no_grad():
        assert_close(bridge, chain["official"](IDS), **TOL)
        assert_close(bridge, chain["hf"](IDS).logits, **TOL)
        assert_close(bridge, chain["hooked"](IDS), **TOL)


def test_every_hook_both_models_expose_holds_the_same_activations(chain):
    _, bridge = chain["bridge"].run_with_cache(IDS)
    _, hooked = chain["hooked"].run_with_cache(IDS)
    shared = sorted(set(bridge.keys()) & set(hooked.keys()))
    per_layer = {name.split(".", 2)[2] for name in shared if name.startswith("blocks.2.")}
    assert per_layer == SHARED_BLOCK_HOOKS
    for name in shared:
        ours, theirs = bridge[name], hooked[name]
        if name.endswith("hook_attn_scores"):
            # masked entries: -inf in HookedTransformer, finfo.min in the bridge (both exp to 0)
            masked = torch.isinf(theirs)
            assert bool((ours[masked] <= torch.finfo(ours.dtype).min).all()), name
            ours, theirs = ours.masked_fill(masked, 0), theirs.masked_fill(masked, 0)
        # 1e-5 relative to the hook's own scale: activations reach |x| ~ 20 here, where fp32
        # summation order alone (HookedTransformer's einsums vs nn.Linear) differs by ~5e-5.
        scale = max(1.0, theirs.abs().max().item())
        assert_close(ours, theirs, atol=1e-5 * scale, rtol=1e-5, msg=lambda m, n=name: f"{n}: {m}")


def test_greedy_generation_gives_the_same_tokens_on_bridge_hf_and_hooked(chain):
    prompt, n = IDS[:1, :4], 12
    expected = chain["hf"].generate(prompt, max_new_tokens=n, do_sample=False)
    options = dict(max_new_tokens=n, do_sample=False, stop_at_eos=False, verbose=False)
    bridge_tokens = chain["bridge"].generate(prompt, use_past_kv_cache=True, **options)
    hooked_tokens = chain["hooked"].generate(prompt, use_past_kv_cache=True, **options)
    assert torch.equal(bridge_tokens, expected)
    assert torch.equal(hooked_tokens, expected)


def _htopk_sae(hook_name: str, d_in: int) -> HierarchicalTopKTrainingSAE:
    torch.manual_seed(0)
    sae = HierarchicalTopKTrainingSAE(
        HierarchicalTopKTrainingSAEConfig(d_in=d_in, d_sae=4 * d_in, k=4)
    )
    sae.cfg.metadata.hook_name = hook_name
    with torch.no_grad():
        sae.W_enc.add_(0.3 * torch.randn_like(sae.W_enc))
        sae.b_dec.normal_(0, 0.5)
    return sae


def test_sae_transformer_bridge_splices_a_hierarchical_sae_into_a_route_hook(tmp_path):
    folder = save_lime(tmp_path / "lime", n_kv=2)
    bridge = SAETransformerBridge.boot_transformers(str(folder), device="cpu")
    ids = IDS + 100
    base = logits(bridge, ids)
    hook = "blocks.2.attn.hook_v"  # the routed values layer 2 attends with, per KV head
    sae = _htopk_sae(hook, d_in=16)
    assert sae.cfg.architecture() == "hierarchical_topk"
    bridge.add_sae(sae)
    spliced, cache = bridge.run_with_cache(ids)
    assert (spliced - base).abs().max() > 1e-3  # the reconstruction replaces the routed values
    assert f"{hook}.hook_sae_acts_post" in cache
    active = (cache[f"{hook}.hook_sae_acts_post"] > 0).sum(-1)
    assert int(active.max()) <= 4  # k features per routed value vector
    bridge.reset_saes()
    assert_close(logits(bridge, ids), base, **TOL)  # removing it restores the output

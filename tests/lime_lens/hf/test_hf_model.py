"""LIMeForCausalLM as a Hugging Face model: Auto classes, save/load, cache, attention backends."""

import json

import pytest
import torch
import transformers
from torch.testing import assert_close
from transformers import LlamaConfig, LlamaForCausalLM

import lime_lens
from lime_lens.hf.tiny import save_tiny_lime, tiny_lime_model

pytestmark = pytest.mark.tl4  # no TransformerLens import: runs under transformer-lens 4 too

IDS = torch.randint(1, 4096, (2, 11), generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_lime(tmp_path_factory.mktemp("tiny") / "lime", seed=0)


def test_import_registers_lime_with_the_auto_classes(folder):
    assert json.loads((folder / "config.json").read_text())["model_type"] == "lime"
    assert isinstance(transformers.AutoConfig.from_pretrained(folder), lime_lens.LIMeHFConfig)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder)
    assert isinstance(model, lime_lens.LIMeForCausalLM)


def test_save_and_load_round_trip_is_exact(folder, tmp_path):
    model = transformers.AutoModelForCausalLM.from_pretrained(folder)
    model.save_pretrained(tmp_path / "again")
    again = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "again")
    expected = tiny_lime_model(seed=0).state_dict()
    for state in (model.state_dict(), again.state_dict()):
        assert state.keys() == expected.keys()
        for key, value in expected.items():
            assert torch.equal(state[key], value), key
    assert "model.layers.2.lime.route" in expected and "model.layers.0.lime.route" not in expected


@pytest.mark.parametrize(
    "implementation", ["sdpa", pytest.param("flex_attention", marks=pytest.mark.slow)]
)
@pytest.mark.parametrize("n_kv", [2, 4])
def test_every_attention_backend_gives_the_eager_logits(n_kv, implementation):
    """transformers' attention interface: the backend is switchable and changes nothing."""
    fast = tiny_lime_model(seed=1, num_key_value_heads=n_kv)
    eager = tiny_lime_model(seed=1, num_key_value_heads=n_kv)
    fast.set_attn_implementation(implementation)
    eager.set_attn_implementation("eager")
    assert fast.model.layers[2].self_attn.config._attn_implementation == implementation
    assert eager.model.layers[2].self_attn.config._attn_implementation == "eager"
    with torch.no_grad():
        assert_close(fast(IDS).logits, eager(IDS).logits, atol=1e-5, rtol=1e-5)


def test_from_pretrained_takes_the_attention_backend(folder):
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager")
    assert model.model.layers[0].self_attn.config._attn_implementation == "eager"


@pytest.mark.parametrize("n_kv", [2, 4])
def test_cached_decoding_equals_the_full_forward(n_kv):
    """Routing is position-wise: the cache holds mixed K/V, a decode step routes only its token."""
    model = tiny_lime_model(seed=2, num_key_value_heads=n_kv)
    with torch.no_grad():
        full = model(IDS).logits
        prefix = model(IDS[:, :7], use_cache=True)
        cache = prefix[lime_lens.hf.modeling.CACHE_FIELD]
        step = model(IDS[:, 7:], **{lime_lens.hf.modeling.CACHE_FIELD: cache}, use_cache=True)
    assert_close(torch.cat([prefix.logits, step.logits], 1), full, atol=1e-5, rtol=1e-5)


def test_greedy_generate_gives_the_same_tokens_with_and_without_the_cache():
    model = tiny_lime_model(seed=3)
    kwargs = dict(max_new_tokens=8, min_new_tokens=8, do_sample=False)
    cached = model.generate(IDS[:1, :5], use_cache=True, **kwargs)
    uncached = model.generate(IDS[:1, :5], use_cache=False, **kwargs)
    assert cached.shape == (1, 13)
    assert torch.equal(cached, uncached)


def test_left_padded_batch_matches_each_prompt_alone():
    model = tiny_lime_model(seed=4)
    short = IDS[1:, :6]
    padded = torch.cat([torch.zeros(1, 5, dtype=torch.long), short], 1)
    mask = torch.cat([torch.zeros(1, 5, dtype=torch.long), torch.ones_like(short)], 1)
    with torch.no_grad():
        alone = model(short).logits
        batched = model(padded, attention_mask=mask).logits
    assert_close(batched[:, 5:], alone, atol=1e-5, rtol=1e-5)


def test_one_hot_routes_reduce_to_hugging_face_llama():
    """With R^l = identity on layer l's own heads (§4), LIMe is Llama with the same weights."""
    lime = tiny_lime_model(seed=5)
    with torch.no_grad():
        for layer in lime.model.layers[1:]:
            route = torch.zeros_like(layer.lime.route)
            route[:, -1] = torch.eye(route.shape[0])
            layer.lime.route.copy_(route)
    state = {k: v for k, v in lime.state_dict().items() if ".lime." not in k}
    llama = LlamaForCausalLM(LlamaConfig(**lime.config.to_diff_dict() | {"model_type": "llama"}))
    llama.load_state_dict(state, strict=True)
    llama.eval()
    with torch.no_grad():
        assert_close(lime(IDS).logits, llama(IDS).logits, atol=1e-5, rtol=1e-5)
        changed = tiny_lime_model(seed=5)(IDS).logits  # App. A init: off-diagonal routes non-zero
    assert (changed - llama(IDS).logits).abs().max() > 1e-3


def test_the_route_hook_sees_the_route_and_a_patch_changes_the_output():
    model = tiny_lime_model(seed=6)
    router = model.model.layers[2].lime
    seen = {}

    def save(route, hook):
        seen["route"] = route
        return route

    def zero(route, hook):
        return torch.zeros_like(route)

    with torch.no_grad():
        base = model(IDS).logits
        router.hook_route.add_hook(save)
        assert_close(model(IDS).logits, base)
        router.hook_route.remove_hooks()
        router.hook_route.add_hook(zero)
        patched = model(IDS).logits
        router.hook_route.remove_hooks()
    assert seen["route"].shape == (2, 2, 3, 2)  # [batch, n_kv, n_src, n_kv]
    assert torch.equal(seen["route"][0], router.route)
    assert (patched - base).abs().max() > 1e-3


def test_training_step_reaches_the_routes():
    model = tiny_lime_model(seed=7).train()
    out = model(IDS, labels=IDS)
    out.loss.backward()
    for layer in model.model.layers[1:]:
        assert layer.lime.route.grad is not None and layer.lime.route.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "routing",
    [
        dict(lime_sources="average"),
        dict(lime_sources="last_j", lime_sources_j=2),
        dict(lime_sources="first_j", lime_sources_j=1),
    ],
)
def test_every_kv_router_survives_save_and_load(tmp_path, routing):
    """The v2 App. D routers carry over; the fixed "average" route is rebuilt on loading
    (a non-persistent buffer, which transformers' meta-device loading leaves empty)."""
    folder = save_tiny_lime(tmp_path / "r", seed=8, **routing)
    loaded = transformers.AutoModelForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        assert_close(loaded(IDS).logits, tiny_lime_model(seed=8, **routing)(IDS).logits)


def test_from_pretrained_in_bf16_casts_the_routes_and_generates(folder):
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    fp32 = transformers.AutoModelForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        assert_close(model(IDS).logits.float(), fp32(IDS).logits, atol=0.1, rtol=0.05)
    assert model.generate(IDS[:1, :4], max_new_tokens=3, do_sample=False).shape == (1, 7)


@pytest.mark.slow
def test_torch_compile_traces_one_graph_with_the_eager_logits(unchecked):
    """No graph break: the route (a list of buffers, one GEMM per source) traces as plain tensors."""
    model = tiny_lime_model(seed=9)
    with torch.no_grad():
        explained = torch._dynamo.explain(model)(IDS)
        compiled = torch.compile(model, backend="aot_eager")(IDS).logits
        assert_close(compiled, model(IDS).logits)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0)


def test_left_padded_batched_generate_gives_each_prompts_own_tokens():
    model = tiny_lime_model(seed=10)
    model.generation_config.pad_token_id = 0
    long, short = IDS[0, :7], IDS[1, :4]
    padded = torch.stack([long, torch.cat([torch.zeros(3, dtype=torch.long), short])])
    mask = (torch.arange(7) >= torch.tensor([[0], [3]])).long()
    kwargs = dict(max_new_tokens=5, min_new_tokens=5, do_sample=False)
    batched = model.generate(padded, attention_mask=mask, **kwargs)
    assert torch.equal(batched[0], model.generate(long[None], **kwargs)[0])
    assert torch.equal(batched[1, 3:], model.generate(short[None], **kwargs)[0])


def test_output_attentions_and_hidden_states_are_recorded():
    model = tiny_lime_model(seed=11)
    model.set_attn_implementation("eager")
    with torch.no_grad():
        out = model(IDS, output_attentions=True, output_hidden_states=True)
    assert len(out.attentions) == 3 and len(out.hidden_states) == 4
    pattern = out.attentions[2]  # [batch, n_heads, pos, pos]
    assert pattern.shape == (2, 4, 11, 11)
    assert_close(pattern.sum(-1), torch.ones(2, 4, 11))
    assert not bool(pattern.triu(1).any())  # causal

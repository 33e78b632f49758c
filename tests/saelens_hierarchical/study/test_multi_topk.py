"""Multi-TopK (Gao et al. 2024 §5.3): loss parity with a plain-torch formula, save/load as "topk"."""

import importlib
import json

import pytest
import torch
from sae_lens import SAE, TopKSAE
from sae_lens.registry import SAE_TRAINING_CLASS_REGISTRY, get_sae_training_class
from sae_lens.saes.sae import TrainStepInput

from saelens_hierarchical.study import multi_topk
from saelens_hierarchical.study.multi_topk import MultiTopKTrainingSAE, MultiTopKTrainingSAEConfig


def _random_sae(rescale: bool, d_in: int = 6, d_sae: int = 24, k: int = 3) -> MultiTopKTrainingSAE:
    torch.manual_seed(0)
    cfg = MultiTopKTrainingSAEConfig(
        d_in=d_in, d_sae=d_sae, k=k, rescale_acts_by_decoder_norm=rescale
    )
    sae = MultiTopKTrainingSAE(cfg)
    with torch.no_grad():  # non-unit decoder rows and non-zero biases exercise every term
        sae.W_enc.normal_()
        sae.W_dec.normal_().mul_(torch.rand(d_sae, 1) + 0.5)
        sae.b_enc.normal_()
        sae.b_dec.normal_()
    return sae


def _topk_mse(sae_in, hidden, W_dec, b_dec, n: int, rescale: bool) -> torch.Tensor:
    """||x - x_hat(n)||^2 summed over d_in, averaged over the batch, written out in plain torch."""
    vals, idx = hidden.topk(n, dim=-1)
    acts = torch.zeros_like(hidden).scatter(-1, idx, vals.relu())
    if rescale:
        acts = acts / W_dec.norm(dim=-1)
    return ((acts @ W_dec + b_dec - sae_in) ** 2).sum(-1).mean()


@pytest.mark.parametrize("rescale", [True, False])
def test_multi_topk_loss_equals_L_k_plus_L_4k_over_8(rescale: bool):
    sae = _random_sae(rescale)
    x = torch.randn(11, 6)
    out = sae.training_forward_pass(
        TrainStepInput(
            sae_in=x,
            coefficients={},
            dead_neuron_mask=None,
            n_training_steps=0,
            is_logging_step=False,
        )
    )
    hidden = (x - sae.b_dec) @ sae.W_enc + sae.b_enc
    if rescale:
        hidden = hidden * sae.W_dec.norm(dim=-1)
    expected_k = _topk_mse(x, hidden, sae.W_dec, sae.b_dec, 3, rescale)
    expected_4k = _topk_mse(x, hidden, sae.W_dec, sae.b_dec, 12, rescale)
    torch.testing.assert_close(out.losses["mse_loss"], expected_k)
    torch.testing.assert_close(out.losses["multi_topk_mse_loss"], expected_4k / 8)
    torch.testing.assert_close(out.loss, expected_k + expected_4k / 8)


def test_multi_topk_saves_as_plain_topk_with_identical_outputs(tmp_path):
    sae = _random_sae(rescale=True)
    sae.cfg.metadata.hook_name = "blocks.0.hook_resid_post"
    sae.save_inference_model(tmp_path)
    assert json.loads((tmp_path / "cfg.json").read_text())["architecture"] == "topk"
    loaded = SAE.load_from_disk(tmp_path)
    assert type(loaded) is TopKSAE and loaded.cfg.k == 3
    assert loaded.cfg.metadata.training_architecture == "multi_topk"
    x = torch.randn(9, 6)
    torch.testing.assert_close(loaded(x), sae(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(loaded.W_dec.norm(dim=-1), torch.ones(24))


def test_multi_topk_registration_survives_reimport(monkeypatch):
    # A reload makes new classes and re-points the registry at them; undo both afterwards so
    # the classes other modules imported stay the registered ones.
    monkeypatch.setitem(
        SAE_TRAINING_CLASS_REGISTRY, "multi_topk", SAE_TRAINING_CLASS_REGISTRY["multi_topk"]
    )
    for name in ("MultiTopKTrainingSAE", "MultiTopKTrainingSAEConfig"):
        monkeypatch.setattr(multi_topk, name, getattr(multi_topk, name))
    importlib.reload(multi_topk)
    multi_topk.register()
    assert "multi_topk" in SAE_TRAINING_CLASS_REGISTRY
    assert get_sae_training_class("multi_topk")[0].__name__ == "MultiTopKTrainingSAE"
    assert get_sae_training_class("multi_topk")[0] is multi_topk.MultiTopKTrainingSAE


def test_multi_topk_config_json_round_trip():
    cfg = MultiTopKTrainingSAEConfig(d_in=4, d_sae=16, k=2, multi_topk_factor=3)
    again = type(cfg).from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again.multi_topk_factor == 3 and again.architecture() == "multi_topk"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"k": 5}, "multi_topk_factor"),
        ({"k": 2, "multi_topk_factor": 0}, "multi_topk_factor"),
        ({"k": 2, "multi_topk_coefficient": -1.0}, "multi_topk_coefficient"),
        ({"k": 2, "normalize_activations": "layer_norm"}, "normalize_activations"),
    ],
)
def test_multi_topk_config_rejects_bad_fields(kwargs, field):
    with pytest.raises(ValueError, match=field):
        MultiTopKTrainingSAEConfig(d_in=4, d_sae=16, **kwargs)

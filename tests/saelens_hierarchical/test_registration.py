"""One registration helper for both architectures: re-points on reload, refuses a foreign class."""

import subprocess
import sys

import pytest
from sae_lens.registry import SAE_TRAINING_CLASS_REGISTRY, get_sae_training_class
from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig

import saelens_hierarchical
from saelens_hierarchical.registration import register_architecture
from saelens_hierarchical.study import multi_topk


def _twin_class(cls: type) -> type:
    """A new class object with ``cls``'s module and qualified name, as a reload makes."""
    return type(
        cls.__name__, (cls,), {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
    )


@pytest.mark.parametrize(
    ("name", "sae_class", "config_class"),
    [
        (
            "hierarchical_topk",
            saelens_hierarchical.HierarchicalTopKTrainingSAE,
            saelens_hierarchical.HierarchicalTopKTrainingSAEConfig,
        ),
        ("multi_topk", multi_topk.MultiTopKTrainingSAE, multi_topk.MultiTopKTrainingSAEConfig),
    ],
)
def test_registering_the_same_class_again_re_points_the_entry(
    monkeypatch, name, sae_class, config_class
):
    monkeypatch.setitem(SAE_TRAINING_CLASS_REGISTRY, name, (sae_class, config_class))
    twin = _twin_class(sae_class)
    before = len(SAE_TRAINING_CLASS_REGISTRY)
    register_architecture(name, twin, config_class)
    assert get_sae_training_class(name) == (twin, config_class)
    assert len(SAE_TRAINING_CLASS_REGISTRY) == before


@pytest.mark.parametrize("name", ["hierarchical_topk", "multi_topk"])
def test_a_foreign_class_holding_the_name_is_refused_and_named(monkeypatch, name):
    monkeypatch.setitem(SAE_TRAINING_CLASS_REGISTRY, name, (TopKTrainingSAE, TopKTrainingSAEConfig))
    with pytest.raises(ValueError, match=f"{name}.*already registered.*TopKTrainingSAE"):
        register_architecture(
            name,
            _twin_class(multi_topk.MultiTopKTrainingSAE),
            multi_topk.MultiTopKTrainingSAEConfig,
        )
    assert get_sae_training_class(name)[0] is TopKTrainingSAE


def test_a_new_name_is_registered(monkeypatch):
    monkeypatch.delitem(SAE_TRAINING_CLASS_REGISTRY, "test_only_arch", raising=False)
    register_architecture("test_only_arch", TopKTrainingSAE, TopKTrainingSAEConfig)
    assert get_sae_training_class("test_only_arch") == (TopKTrainingSAE, TopKTrainingSAEConfig)
    del SAE_TRAINING_CLASS_REGISTRY["test_only_arch"]


@pytest.mark.slow  # a fresh interpreter importing sae_lens: ~10-40 s on shared cores
def test_importing_the_plugin_alone_registers_hierarchical_topk_but_not_multi_topk():
    code = (
        "import saelens_hierarchical\n"
        "from sae_lens.registry import SAE_TRAINING_CLASS_REGISTRY as r\n"
        "print('hierarchical_topk' in r, 'multi_topk' in r)\n"
        "import saelens_hierarchical.study.peers\n"
        "print('multi_topk' in r)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "True"]

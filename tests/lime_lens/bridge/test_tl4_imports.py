"""Under transformer-lens 4: ``import lime_lens`` works, the HookedTransformer classes refuse with
a message naming transformer-lens<4 (these tests skip under 3.x)."""

from importlib.metadata import version

import pytest

TL_MAJOR = int(version("transformer-lens").split(".")[0])
pytestmark = [
    pytest.mark.tl4,
    pytest.mark.skipif(TL_MAJOR < 4, reason="checks the transformer-lens 4 refusals"),
]


def test_import_lime_lens_gives_the_hf_model_and_the_bridge_adapter():
    import lime_lens
    from lime_lens.bridge.adapter import LIMeArchitectureAdapter

    assert lime_lens.LIMeForCausalLM.__name__ == "LIMeForCausalLM"
    assert LIMeArchitectureAdapter.__name__ == "LIMeArchitectureAdapter"


@pytest.mark.parametrize("name", ["HookedLIMeTransformer", "LIMeConfig"])
def test_the_hooked_transformer_classes_say_they_need_transformer_lens_3(name):
    import lime_lens

    with pytest.raises(ImportError, match=r"transformer-lens<4"):
        getattr(lime_lens, name)


def test_importing_the_config_module_directly_says_so_too():
    with pytest.raises(ImportError, match=r"need transformer-lens<4"):
        import lime_lens.config  # noqa: F401

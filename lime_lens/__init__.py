"""LIMe (Layer-Integrated Memory, Gerasimov et al., arXiv 2502.09245) for TransformerLens and Hugging Face.

``import lime_lens`` registers model_type "lime" with transformers' AutoConfig /
AutoModelForCausalLM. The TransformerLens classes (``LIMeConfig``, ``HookedLIMeTransformer``,
``HookedSAELIMeTransformer``) need transformer-lens < 4 and are imported on first use.
"""

from typing import Any

from lime_lens.bridge import register_adapter
from lime_lens.hf import LIMeForCausalLM, LIMeHFConfig, register

register()
register_adapter()  # TransformerBridge's adapter for LIMeForCausalLM (lime_lens.bridge)

__all__ = [
    "HookedLIMeTransformer",
    "HookedSAELIMeTransformer",
    "LIMeConfig",
    "LIMeForCausalLM",
    "LIMeHFConfig",
]


def _needs_transformer_lens_3(name: str, error: ImportError) -> ImportError:
    from importlib.metadata import version

    tl = version("transformer-lens")
    if int(tl.split(".")[0]) < 4:
        return error
    return ImportError(
        f"lime_lens.{name} is a HookedTransformer subclass and needs transformer-lens<4 "
        f"(installed: {tl}, which removed HookedTransformer); use lime_lens.LIMeForCausalLM "
        "with TransformerBridge instead"
    )


def __getattr__(name: str) -> Any:
    # Imported lazily: sae_lens takes seconds to import and most users never need it, and the
    # TransformerLens classes do not exist under transformer-lens 4.
    try:
        if name == "LIMeConfig":
            from lime_lens.config import LIMeConfig

            return LIMeConfig
        if name == "HookedLIMeTransformer":
            from lime_lens.model import HookedLIMeTransformer

            return HookedLIMeTransformer
        if name == "HookedSAELIMeTransformer":
            from lime_lens.sae_model import HookedSAELIMeTransformer

            return HookedSAELIMeTransformer
    except ImportError as error:
        raise _needs_transformer_lens_3(name, error) from error
    raise AttributeError(f"module 'lime_lens' has no attribute {name!r}")

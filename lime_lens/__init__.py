"""LIMe (Layer-Integrated Memory, Gerasimov et al., arXiv 2502.09245) for TransformerLens."""

from typing import Any

from lime_lens.config import LIMeConfig
from lime_lens.model import HookedLIMeTransformer

__all__ = ["HookedLIMeTransformer", "HookedSAELIMeTransformer", "LIMeConfig"]


def __getattr__(name: str) -> Any:
    # Imported lazily: sae_lens takes seconds to import and most users never need it.
    if name == "HookedSAELIMeTransformer":
        from lime_lens.sae_model import HookedSAELIMeTransformer

        return HookedSAELIMeTransformer
    raise AttributeError(f"module 'lime_lens' has no attribute {name!r}")

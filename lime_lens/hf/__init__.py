"""LIMe as a Hugging Face model: ``LIMeHFConfig`` (model_type "lime") and ``LIMeForCausalLM``.

:func:`register` makes ``AutoConfig`` / ``AutoModelForCausalLM`` resolve "lime" to them;
``import lime_lens`` calls it. Conversion to and from HookedLIMeTransformer lives in
``lime_lens.hf.convert`` (transformer-lens < 4 only).
"""

from lime_lens.hf.configuration import LIMeHFConfig
from lime_lens.hf.modeling import LIMeForCausalLM, LIMeModel

__all__ = ["LIMeForCausalLM", "LIMeHFConfig", "LIMeModel", "register"]


def register() -> None:
    """Register "lime" with AutoConfig and AutoModelForCausalLM (idempotent)."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    AutoConfig.register("lime", LIMeHFConfig, exist_ok=True)
    AutoModel.register(LIMeHFConfig, LIMeModel, exist_ok=True)
    AutoModelForCausalLM.register(LIMeHFConfig, LIMeForCausalLM, exist_ok=True)

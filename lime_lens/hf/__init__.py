"""LIMe as a Hugging Face model: ``LIMeHFConfig`` (model_type "lime") and ``LIMeForCausalLM``.

Routers: the same ``lime_lens.routers`` classes as HookedLIMeTransformer. The kv routers carry
over: ``KVStaticRouter`` (paper v2 §4, the official checkpoints), ``KVSourceRouter`` (App. D
last_j / first_j) and ``KVAverageRouter`` (App. D uniform average). The v1 residual routers
(static, dynamic, top-p lookups) do not: they mix residual states that each head projects with
its own W_K / W_V, which Llama's attention does not do, and they hold TransformerLens' norms.

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

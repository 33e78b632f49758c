"""LIMeRouter: what every ``blocks.{l}.lime`` declares to the block, the model and the analyses.

A router mixes what layers 0..l left behind (their raw K/V, or their residual inputs) into the
K/V input of layer l (paper v2 §4, v1 §3). Layer 0 has no router: it reads only itself (the
official code's FirstLayerRouter). The class attributes below are what the rest of lime_lens asks,
instead of testing ``lime_mode`` strings.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Protocol, runtime_checkable

import torch
from jaxtyping import Float
from torch import nn

ProcessingStep = Literal["fold_ln", "fold_value_biases", "refactor_factored_attn_matrices"]


@runtime_checkable
class RouterConfig(Protocol):
    """What a router reads from its model's config: ``LIMeConfig`` (HookedLIMeTransformer) and
    ``lime_lens.hf.configuration.RouterSettings`` (the Hugging Face model) both provide it, so the
    two models build the same router classes (one routing implementation)."""

    @property
    def n_kv_heads(self) -> int: ...
    @property
    def dtype(self) -> torch.dtype: ...
    @property
    def lime_sources(self) -> str: ...
    @property
    def lime_sources_j(self) -> int: ...
    @property
    def normalization_type(self) -> str | None: ...


class LIMeRouter(nn.Module):
    """Base of the routers; subclasses set the class attributes and implement ``forward``."""

    source: ClassVar[Literal["kv", "residual"]]
    """What the block feeds ``forward``. "kv": the heads-major raw K/V (``attn.hook_k_raw`` /
    ``hook_v_raw``) of layers 0..l, returning the mixed (K, V), each [batch, pos, n_kv, d_head].
    "residual": the hooked ``hook_resid_pre`` of layers 0..l, returning the per-KV-head K/V input
    [batch, pos, n_kv, d_model] that the attention projects with its own W_K / W_V."""

    raw_kv_hooks: ClassVar[bool] = False
    """True when every layer's attention (0 included) exposes its own pre-routing K/V as
    ``attn.hook_k_raw`` / ``attn.hook_v_raw`` [batch, pos, n_kv, d_head]."""

    hook_names: ClassVar[tuple[str, ...]] = ("hook_route",)
    """The router's own HookPoints under ``blocks.{l}.lime`` (submodules such as the LIMe norm
    add theirs)."""

    route_dims: ClassVar[tuple[str, ...]]
    """Axes of ``hook_route``, e.g. ("batch", "n_kv", "n_src"); "n_kv" is the target KV head,
    "n_src" the source layer, "n_kv_src" the source KV head (kv mode), "pos" a per-token route."""

    per_token: ClassVar[bool] = False
    """True when the route depends on the input token (dynamic lookup); then "pos" is in route_dims."""

    param_names: ClassVar[tuple[str, ...]]
    """Parameter names under ``blocks.{l}.lime``. They start with "route" so that the training
    optimizer's router group (regex ``\\.lime\\.route``, App. A router lr) catches them."""

    ln_fold: ClassVar[Literal["stock", "lime_norm"]] = "stock"
    """fold_ln: "stock" when K/V are read through ln1 like vanilla (mixing is linear, so the
    stock fold is exact); "lime_norm" when K/V read the router's own norm ``lime.ln``, which
    ``lime_lens.weight_processing.fold_lime_norms`` folds into W_K / W_V instead."""

    value_bias_fold: ClassVar[Literal["stock", "routed"]] = "stock"
    """fold_value_biases: "stock" when layer l's V carries its own b_V; "routed" when it carries a
    mixture of earlier layers' b_V (the router then implements ``route_constants``)."""

    refactor_exact: ClassVar[bool] = True
    """refactor_factored_attn_matrices is exact (False: refused, see :meth:`refusal`)."""

    official_v2_layout: ClassVar[bool] = False
    """True when ``lime_lens.official.convert`` can load the official corl-team/lime v2 checkpoint into it."""

    def __init__(self, cfg: RouterConfig, layer: int):
        super().__init__()
        if layer < 1:
            raise ValueError(
                f"layer 0 has no router: it reads only its own K/V input (FirstLayerRouter); "
                f"{type(self).__name__} needs layer >= 1"
            )
        self.layer = layer

    def reset_parameters(self) -> None:
        """The router's own initialisation (called after TransformerLens' init_weights)."""
        raise NotImplementedError

    @classmethod
    def refusal(cls, cfg: RouterConfig, step: ProcessingStep) -> str | None:
        """Why weight-processing ``step`` would change this router's model under ``cfg``; None if exact."""
        if step == "refactor_factored_attn_matrices" and not cls.refactor_exact:
            return (
                f"refactor_factored_attn_matrices=True is not supported by {cls.__name__}: later "
                "layers route this layer's K/V against their own queries and W_O."
            )
        return None

    def route_constants(
        self, per_layer: list[Float[torch.Tensor, "n_kv_src d"]]
    ) -> Float[torch.Tensor, "n_kv d"]:
        """value_bias_fold "routed": the routed image of one constant per source head and layer
        (e.g. b_V), i.e. what the route makes of a K/V that is that constant at every position."""
        raise NotImplementedError

    @classmethod
    def fold_norm_gain(
        cls, state: dict[str, torch.Tensor], prefix: str, gain: torch.Tensor
    ) -> None:
        """ln_fold "lime_norm": fold the norm gain into router parameters (keys ``prefix + name``)
        that read the normed input. None by default."""

    @staticmethod
    def expand_batch(route: torch.Tensor, batch: int) -> torch.Tensor:
        """A batch axis as a stride-0 view, so ``remove_batch_dim`` and per-prompt patches work."""
        return route.unsqueeze(0).expand(batch, *route.shape)

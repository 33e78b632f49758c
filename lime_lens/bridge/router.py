"""LIMeRouterBridge: ``blocks.{l}.lime``, the bridge component around a layer's LIMe router.

The router (``model.layers.{l}.lime``, a ``lime_lens.routers`` class shared with
HookedLIMeTransformer) carries its own HookPoints (``hook_route``, [batch, n_kv, n_src, n_kv] in kv
mode). TransformerBridge only collects HookPoints that sit on bridge components, so this component
re-exposes the router's own HookPoint objects under the same names: ``blocks.{l}.lime.hook_route``
is the HookPoint the router calls, and a hook added through the bridge edits the live route.
Layer 0 has no router (it reads only itself), so the adapter declares this component optional.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from transformer_lens.hook_points import HookPoint
from transformer_lens.model_bridge.generalized_components.base import GeneralizedComponent

from lime_lens.routers.base import LIMeRouter


class UnsupportedLIMeModel(ValueError):
    """A LIMe model the bridge adapter cannot map: a config that is not LIMe kv routing, or a
    router that does not mix raw K/V or lacks its declared hooks."""


def check_router(router: nn.Module, where: str) -> LIMeRouter:
    """``router`` if the bridge maps it: a kv-source LIMeRouter exposing its declared hooks."""
    if not isinstance(router, LIMeRouter):
        raise UnsupportedLIMeModel(
            f"{where}: {type(router).__name__} is not a lime_lens LIMeRouter; the LIMe bridge "
            "adapter maps only lime_lens.routers classes"
        )
    if router.source != "kv":
        raise UnsupportedLIMeModel(
            f"{where}: router {type(router).__name__} reads source {router.source!r}; the LIMe "
            "bridge adapter maps kv routers only (paper v2 §4, LIMeHFConfig lime_mode='kv')"
        )
    missing = [h for h in router.hook_names if not isinstance(getattr(router, h, None), HookPoint)]
    if missing:
        raise UnsupportedLIMeModel(
            f"{where}: router {type(router).__name__} declares hooks {missing} it does not hold"
        )
    return router


class LIMeRouterBridge(GeneralizedComponent):
    """Runs the wrapped router unchanged and exposes its HookPoints (``LIMeRouter.hook_names``)."""

    def __init__(self, name: str, config: Any = None):
        super().__init__(name, config, optional=True)
        # The generic hook_in / hook_out would never fire (the router takes a list of buffers
        # and returns a K/V pair): absent rather than silently inert.
        for generic in ("hook_in", "hook_out"):
            delattr(self, generic)
            self._hook_registry.pop(generic, None)

    def set_original_component(self, original_component: nn.Module) -> None:
        router = check_router(original_component, self.name or "lime")
        super().set_original_component(router)
        for hook_name in router.hook_names:
            # The router's own HookPoint object, so the route it computes is what hooks see.
            setattr(self, hook_name, getattr(router, hook_name))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.original_component is None:
            raise RuntimeError(f"Original component not set for {self.name}")
        return self.original_component(*args, **kwargs)

"""LIMe routers, one class per mechanism (``LIMeConfig.lime_mode`` / ``lime_lookup`` select one).

- ``KVStaticRouter`` (kv, static): paper v2, static unconstrained mixing of raw K/V heads.
- ``ResidualStaticRouter`` / ``ResidualDynamicRouter`` / ``ResidualTopPRouter`` (residual, ...):
  paper v1 lookups over the normalised residual states; ``ResidualRouter`` is their shared mixing.
- ``KVSourceRouter`` / ``KVAverageRouter`` (kv, ``lime_sources``): paper v2 App. D ablations, the
  route restricted to the last / first j layers, or fixed to a uniform average.
- ``LIMeRouter``: the base class; ``lime_lens.router_registry`` maps config values to classes.

The kv routers import only torch and ``transformer_lens.hook_points`` (the Hugging Face model
builds them under transformer-lens 4 too); the residual routers hold TransformerLens' norm
components, so they are imported on first use.
"""

from typing import Any

from lime_lens.routers.base import LIMeRouter, RouterConfig
from lime_lens.routers.kv import (
    KVFullRouteRouter,
    KVStaticRouter,
    from_heads_major,
    route_kv,
    route_kv_reference,
    to_heads_major,
)
from lime_lens.routers.kv_average import KVAverageRouter
from lime_lens.routers.kv_sources import KVSourceRouter, kv_source_layers
from lime_lens.routers.lookups import softmax_weights, top_p_weights

_RESIDUAL = {
    "ResidualRouter": "lime_lens.routers.residual",
    "ResidualDynamicRouter": "lime_lens.routers.residual_dynamic",
    "ResidualStaticRouter": "lime_lens.routers.residual_static",
    "ResidualTopPRouter": "lime_lens.routers.residual_top_p",
}

__all__ = [
    "KVAverageRouter",
    "KVFullRouteRouter",
    "KVSourceRouter",
    "KVStaticRouter",
    "LIMeRouter",
    "ResidualDynamicRouter",
    "ResidualRouter",
    "ResidualStaticRouter",
    "ResidualTopPRouter",
    "RouterConfig",
    "from_heads_major",
    "kv_source_layers",
    "route_kv",
    "route_kv_reference",
    "softmax_weights",
    "to_heads_major",
    "top_p_weights",
]


def __getattr__(name: str) -> Any:
    if name in _RESIDUAL:
        import importlib

        return getattr(importlib.import_module(_RESIDUAL[name]), name)
    raise AttributeError(f"module 'lime_lens.routers' has no attribute {name!r}")

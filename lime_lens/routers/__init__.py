"""LIMe routers, one class per mechanism (``LIMeConfig.lime_mode`` / ``lime_lookup`` select one).

- ``KVStaticRouter`` (kv, static): paper v2, static unconstrained mixing of raw K/V heads.
- ``ResidualStaticRouter`` / ``ResidualDynamicRouter`` / ``ResidualTopPRouter`` (residual, ...):
  paper v1 lookups over the normalised residual states; ``ResidualRouter`` is their shared mixing.
- ``KVSourceRouter`` / ``KVAverageRouter`` (kv, ``lime_sources``): paper v2 App. D ablations, the
  route restricted to the last / first j layers, or fixed to a uniform average.
- ``LIMeRouter``: the base class; ``lime_lens.router_registry`` maps config values to classes.
"""

from lime_lens.routers.base import LIMeRouter
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
from lime_lens.routers.residual import ResidualRouter
from lime_lens.routers.residual_dynamic import ResidualDynamicRouter
from lime_lens.routers.residual_static import ResidualStaticRouter
from lime_lens.routers.residual_top_p import ResidualTopPRouter

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
    "from_heads_major",
    "kv_source_layers",
    "route_kv",
    "route_kv_reference",
    "softmax_weights",
    "to_heads_major",
    "top_p_weights",
]

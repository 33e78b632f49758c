"""LIMe routers: ``KVStaticRouter`` (paper v2) and ``ResidualRouter`` (paper v1 lookups)."""

from lime_lens.routers.kv import KVStaticRouter, route_kv, route_kv_reference
from lime_lens.routers.lookups import softmax_weights, top_p_weights
from lime_lens.routers.residual import ResidualRouter

__all__ = [
    "KVStaticRouter",
    "ResidualRouter",
    "route_kv",
    "route_kv_reference",
    "softmax_weights",
    "top_p_weights",
]

"""LIMe routers: ``KVStaticRouter`` (paper v2) and ``ResidualRouter`` (paper v1 lookups)."""

from lime_lens.routers.kv import KVStaticRouter, from_heads_major, route_kv, route_kv_reference, to_heads_major
from lime_lens.routers.lookups import softmax_weights, top_p_weights
from lime_lens.routers.residual import ResidualRouter

__all__ = [
    "KVStaticRouter",
    "ResidualRouter",
    "from_heads_major",
    "route_kv",
    "route_kv_reference",
    "softmax_weights",
    "to_heads_major",
    "top_p_weights",
]

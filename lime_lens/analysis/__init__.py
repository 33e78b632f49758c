"""LIMe analysis toolkit: representation collapse, routes, depthwise circuits, SAEs on routes."""

from lime_lens.analysis.attribution import (
    corpus_loss,
    decompose_kv_input,
    route_ablation_table,
    zero_route_hook,
)
from lime_lens.analysis.circuits import depthwise_circuits, router_logits, vocab_vectors
from lime_lens.analysis.entropy import entropy_per_layer, matrix_renyi_entropy, sequence_entropies
from lime_lens.analysis.probe import find_token_occurrences, probe_accuracy, token_separability
from lime_lens.analysis.routing import (
    RoutingHeatmaps,
    mean_abs_routes,
    routing_heatmaps,
    routing_heatmaps_for,
)
from lime_lens.analysis.states import collect_states, iter_states

__all__ = [
    "RoutingHeatmaps",
    "collect_states",
    "corpus_loss",
    "decompose_kv_input",
    "depthwise_circuits",
    "entropy_per_layer",
    "find_token_occurrences",
    "iter_states",
    "matrix_renyi_entropy",
    "mean_abs_routes",
    "probe_accuracy",
    "route_ablation_table",
    "router_logits",
    "routing_heatmaps",
    "routing_heatmaps_for",
    "sequence_entropies",
    "token_separability",
    "vocab_vectors",
    "zero_route_hook",
]

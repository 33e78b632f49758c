import pytest
import torch

from lime_lens.analysis.attribution import decompose_kv_input, route_ablation_table
from lime_lens.analysis.entropy import entropy_per_layer
from lime_lens.analysis.probe import find_token_occurrences, gather_occurrence_states
from lime_lens.analysis.routing import routing_heatmaps_for

from .helpers import random_tokens, tiny_lime


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_analyses_of_a_cuda_model_equal_those_of_the_same_model_on_cpu():
    model, tokens = tiny_lime("residual", "dynamic"), random_tokens(n_seq=9, pos=16)
    ids = torch.bincount(tokens.flatten()).topk(3).indices.tolist()
    occ = find_token_occurrences(tokens, ids)

    def run():
        return (
            entropy_per_layer(model, tokens, "values_pre").entropy_mean.tolist(),
            routing_heatmaps_for(model, tokens).per_head,
            route_ablation_table(model, tokens, layers=[2])
            .sort_values(["head", "source"])
            .ablated_loss.tolist(),
            decompose_kv_input(model, tokens, 2, 1).contributions.cpu(),
            gather_occurrence_states(model, tokens, occ, "values_post")[2],
        )

    on_cpu = run()
    model.to("cuda")
    on_gpu = run()
    for a, b in zip(on_cpu, on_gpu, strict=True):
        torch.testing.assert_close(
            a, b, atol=1e-4, rtol=1e-4, equal_nan=True
        )  # heatmaps: NaN above diagonal

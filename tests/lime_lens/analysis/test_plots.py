import matplotlib

matplotlib.use("Agg")

import pandas as pd
import torch

from lime_lens.analysis.attribution import decompose_kv_input, route_ablation_table
from lime_lens.analysis.entropy import entropy_per_layer
from lime_lens.analysis.plots import (
    plot_entropy_per_layer,
    plot_kv_decomposition,
    plot_route_ablation,
    plot_routing_heatmap,
    plot_routing_per_head,
)
from lime_lens.analysis.routing import routing_heatmaps_for

from .helpers import random_tokens, tiny_lime, tiny_vanilla


def test_entropy_plot_has_one_panel_per_state_kind_and_one_line_per_model():
    tokens = random_tokens()
    tables = {
        name: pd.concat([entropy_per_layer(model, tokens, s) for s in ("values_post", "resid")])
        for name, model in {"LIMe": tiny_lime("kv"), "vanilla": tiny_vanilla()}.items()
    }
    fig = plot_entropy_per_layer(tables)
    assert len(fig.axes) == 2 and all(len(ax.lines) == 2 for ax in fig.axes)


def test_routing_and_attribution_plots_draw_the_data_they_are_given():
    model, tokens = tiny_lime("kv"), random_tokens(n_seq=2)
    maps = routing_heatmaps_for(model)
    heat = plot_routing_heatmap(maps)
    shown = heat.axes[0].images[0].get_array()
    torch.testing.assert_close(torch.tensor(shown.filled(-1.0)), maps.per_layer.nan_to_num(-1.0))
    assert (
        len(plot_routing_per_head(maps).axes) == model.cfg.n_layers
    )  # n_layers - 1 panels + colorbar
    table = route_ablation_table(model, tokens)
    bars = plot_route_ablation(table, top=5).axes[0].patches
    torch.testing.assert_close(
        sorted(b.get_width() for b in bars), sorted(table.delta_loss[:5].tolist())
    )
    parts, _ = decompose_kv_input(model, tokens, 2, 0)
    assert len(plot_kv_decomposition(parts).axes[0].patches) == 3

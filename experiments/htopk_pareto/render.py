"""Render ``htopk_pareto.md`` and its figures from the runs' JSON.

    python -m experiments.htopk_pareto.render

(``python -m experiments.rerender --check`` compares every rendered file with the committed one.)
"""

from __future__ import annotations

from pathlib import Path

from experiments.common import Rendered, replace_block
from experiments.htopk_pareto import render_adaptive, render_dsae_default, render_dsae_scaling

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "htopk_pareto.md"


def rendered() -> list[Rendered]:
    """``htopk_pareto.md``, the d_sae plots and the d_sae-scaling CSV."""
    scaling_runs = render_dsae_scaling.load_runs()
    scaling_diffs = render_dsae_scaling.differences(scaling_runs)
    default_runs = render_dsae_default.load_runs()
    text = RESULTS.read_text()
    for module, block in (
        (render_dsae_scaling, render_dsae_scaling.render(scaling_runs)),
        (render_dsae_default, render_dsae_default.render(default_runs)),
        (render_adaptive, render_adaptive.render()),
    ):
        text = replace_block(text, module.BEGIN, module.END, block)
    return [
        Rendered(RESULTS, text),
        Rendered(
            render_dsae_scaling.RUN_DIR / "dsae_scaling.csv", scaling_diffs.to_csv(index=False)
        ),
        Rendered(
            render_dsae_scaling.RUN_DIR / "dsae_scaling.png",
            render_dsae_scaling.plot(scaling_diffs, scaling_runs),
        ),
        Rendered(
            render_dsae_default.RUN_DIR / "dsae_default.png",
            render_dsae_default.plot(render_dsae_default.differences(default_runs)),
        ),
    ]


def main() -> None:
    for file in rendered():
        file.write()
        print(f"wrote {file.path}")


if __name__ == "__main__":
    main()

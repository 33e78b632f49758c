"""What one comparison run returns: its tables and the paths of every file it wrote."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pandas as pd


class ComparisonResult(NamedTuple):
    """The outcome of ``run_comparison``, ``run_synthetic_comparison`` or ``run_real_lm_comparison``."""

    table: pd.DataFrame
    """One row per (method, budget): the metrics of every trained SAE at every budget it serves."""

    differences: pd.DataFrame
    """Per budget k: metric(hierarchical_topk at k) - metric(topk trained at k)."""

    table_csv: Path
    """``table`` as CSV."""

    table_json: Path
    """``table`` as JSON records, with the run's configuration as provenance."""

    differences_csv: Path
    """The differences of every compared metric as CSV."""

    plot_png: Path
    """The Pareto frontier (metric against measured L0, one line per method), static."""

    plot_html: Path
    """The same frontier, interactive (hover shows each point's budget)."""

    sae_dirs: dict[str, Path]
    """SAE name -> folder of the saved inference SAE (plain ``SAE.load_from_disk``)."""

    def written_files(self) -> dict[str, Path]:
        """Label -> path of the files a reader looks at first, for printing."""
        return {
            "table_csv": self.table_csv,
            "differences_csv": self.differences_csv,
            "plot_png": self.plot_png,
            "plot_html": self.plot_html,
        }

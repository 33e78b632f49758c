"""What one comparison run returns: its tables and the paths of every file it wrote."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class ComparisonResult:
    """The outcome of ``run_comparison``, ``run_synthetic_comparison`` or ``run_real_lm_comparison``."""

    table: pd.DataFrame
    """One row per (method, budget): the metrics of every trained SAE at every budget it serves."""

    differences: pd.DataFrame
    """Per budget k: metric(hierarchical_topk at k) - metric(topk trained at k)."""

    table_csv: Path
    table_json: Path
    differences_csv: Path
    plot_png: Path
    plot_html: Path

    sae_dirs: dict[str, Path]
    """SAE name -> folder of the saved inference SAE (plain ``SAE.load_from_disk``)."""

    def written_files(self) -> dict[str, Path]:
        """Label -> path of every file written, for printing."""
        return {"table_csv": self.table_csv, "differences_csv": self.differences_csv,
                "plot_png": self.plot_png, "plot_html": self.plot_html}

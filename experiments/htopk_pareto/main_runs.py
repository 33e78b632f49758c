"""The main comparison runs behind ``htopk_pareto.md`` (``compare --target default | synthetic |
smollm2``), read from their committed JSON: per run, every (method, budget) row, and the
differences hierarchical - TopK trained at k that the text quotes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
HIER, TOPK = "hierarchical_topk", "topk"
RUNS = {
    "default s0": "default",
    "default s1": "default_seed1",
    "default 3x": "default_long",
    "synthetic s0": "synthetic",
    "synthetic s1": "synthetic_seed1",
    "synthetic 3x": "synthetic_long",
    "SmolLM2": "smollm2",
}
"""Run label (as the tables head it) -> its folder."""
SOURCES = {"default model": "default", "synthetic data": "synthetic", "SmolLM2": "SmolLM2"}
"""Data source -> the prefix of its run labels."""


@dataclass(frozen=True)
class Run:
    """One committed comparison run."""

    label: str
    folder: Path
    record: dict

    @property
    def rows(self) -> pd.DataFrame:
        return pd.DataFrame(self.record["rows"])

    @property
    def config(self) -> dict:
        return self.record["config"]["baselines"]

    @property
    def budgets(self) -> list[int]:
        return list(self.config["budgets"])

    @property
    def big_k(self) -> int:
        return int(self.config["K"])

    @property
    def steps(self) -> int:
        return self.config["training_tokens"] // self.config["train_batch_size_tokens"]

    def value(self, method: str, k: int, metric: str) -> float:
        """``metric`` of ``method`` evaluated at budget ``k`` (a per-budget peer: trained at k)."""
        rows = self.rows
        hit = rows[(rows["method"] == method) & (rows["budget"] == k)]
        if method not in (HIER, "multi_topk"):
            hit = hit[hit["trained_k"] == k]
        return float(hit[metric].iloc[0])

    def diff(self, k: int, metric: str = "explained_variance") -> float:
        """``metric``(hierarchical at k) - ``metric``(TopK trained at k)."""
        return self.value(HIER, k, metric) - self.value(TOPK, k, metric)


def load_run(label: str, folder: str) -> Run:
    path = HERE / folder
    name = "comparison.json" if (path / "comparison.json").is_file() else "synthetic.json"
    return Run(label, path, json.loads((path / name).read_text()))


def main_runs() -> dict[str, Run]:
    """Every main run, by label, in the tables' column order."""
    return {label: load_run(label, folder) for label, folder in RUNS.items()}


def source_runs(runs: dict[str, Run], source: str) -> list[Run]:
    """The runs of one data source (see SOURCES)."""
    return [r for label, r in runs.items() if label.startswith(SOURCES[source])]


def k_class(runs: list[Run], k: int) -> tuple[str, list[float]]:
    """How the EV difference at ``k`` behaves over ``runs``: "negative" / "positive" in every
    run, else "mixed" (it changes sign between runs); and the differences."""
    diffs = [r.diff(k) for r in runs if k in r.budgets]
    if all(d < 0 for d in diffs):
        return "negative", diffs
    if all(d > 0 for d in diffs):
        return "positive", diffs
    return "mixed", diffs

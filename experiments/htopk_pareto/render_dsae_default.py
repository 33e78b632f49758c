"""The default-model d_sae block of ``htopk_pareto.md`` (``compare --scale results --d-sae D
--seed S``).

Reads ``dsae_default/d{D}_s{S}/comparison.json`` (each run's table and config) and ``run.json``
(command, wall time), computes per budget k and d_sae the difference EV(hierarchical at k) -
EV(TopK trained at k) per seed, applies the pre-registered rule of the synthetic experiment
(``render_dsae_scaling.verdict``) with the smallest and largest d_sae as its ends, and renders the
block and a PNG. Written by ``python -m experiments.htopk_pareto.render``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from experiments.common import png_bytes
from experiments.htopk_pareto.render_dsae_scaling import _pivot, verdict

RUN_DIR = Path(__file__).resolve().parent / "dsae_default"
BEGIN, END = "<!-- dsae-default:begin (rendered) -->", "<!-- dsae-default:end -->"


def load_runs(run_dir: Path = RUN_DIR) -> list[dict]:
    """One dict per finished run: its config, rows and run record."""
    runs = []
    for folder in sorted(run_dir.glob("d*_s*")):
        record = json.loads((folder / "comparison.json").read_text())
        run = json.loads((folder / "run.json").read_text())
        runs.append({**record, "run": run, "folder": folder.name})
    return runs


def differences(runs: list[dict]) -> pd.DataFrame:
    """One row per (d_sae, seed, k); ``ratio`` holds d_sae for the shared rule and tables."""
    rows = []
    for run in runs:
        cfg = run["config"]["baselines"]
        table = pd.DataFrame(run["rows"])
        ours = table[table["method"] == "hierarchical_topk"].set_index("budget")
        topk = table[(table["method"] == "topk") & (table["trained_k"] == table["budget"])]
        theirs = topk.set_index("budget")
        for k in sorted(set(ours.index) & set(theirs.index)):
            ev_h, ev_t = ours.loc[k, "explained_variance"], theirs.loc[k, "explained_variance"]
            rows.append(
                {
                    "ratio": cfg["d_sae"],
                    "seed": cfg["seed"],
                    "k": int(k),
                    "ev_diff": ev_h - ev_t,
                    "fvu_rel_diff": ((1 - ev_h) - (1 - ev_t)) / (1 - ev_t),
                    "ce_diff": ours.loc[k, "ce_loss_score"] - theirs.loc[k, "ce_loss_score"],
                    "dead_hierarchical": ours.loc[k, "dead_latents"],
                    "dead_topk": theirs.loc[k, "dead_latents"],
                }
            )
    return pd.DataFrame(rows).sort_values(["k", "ratio", "seed"])


def plot(diffs: pd.DataFrame) -> bytes:
    """The EV difference against d_sae, one line per k (mean over seeds), as PNG bytes."""
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    for k, rows in diffs.groupby("k"):
        mean = rows.groupby("ratio")["ev_diff"].mean()
        (line,) = ax.plot(mean.index, mean.values, marker="o", label=f"k={k}")
        ax.scatter(rows["ratio"], rows["ev_diff"], s=10, alpha=0.5, color=line.get_color())
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("d_sae (default model, d_in 128)")
    ax.set_ylabel("EV(hier at k) - EV(TopK trained at k)")
    ax.set_title("Default model: mean over seeds (points: seeds)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return png_bytes(fig, dpi=110)


def render(runs: list[dict]) -> str:
    if not runs:
        return "\n".join([BEGIN, "No run has finished yet.", END])
    diffs = differences(runs)
    per_k, answer = verdict(diffs, int(diffs["k"].max()))
    walls = ", ".join(
        f"d_sae {r['config']['baselines']['d_sae']} seed {r['config']['baselines']['seed']}: "
        f"{r['run']['wall_s'] / 60:.1f} min"
        for r in sorted(runs, key=lambda r: (r["config"]["baselines"]["d_sae"], r["folder"]))
    )
    sizes = sorted({int(r) for r in diffs["ratio"]})
    return "\n".join(
        [
            BEGIN,
            f"Runs: {len(runs)} (d_sae {sizes}, seeds {sorted(diffs['seed'].unique().tolist())}); "
            f"wall time per run ({walls}).",
            "",
            "**EV(hierarchical at k) - EV(TopK trained at k)**, mean over seeds (seed 0 / seed 1):",
            "",
            _pivot(diffs, "ev_diff", "d_sae {:g}"),
            "",
            "**Relative FVU difference** (FVU_hier - FVU_TopK) / FVU_TopK (positive: hierarchical "
            "worse):",
            "",
            _pivot(diffs, "fvu_rel_diff", "d_sae {:g}"),
            "",
            "**CE-loss score difference** (hierarchical - TopK trained at k; no decision attached):",
            "",
            _pivot(diffs, "ce_diff", "d_sae {:g}"),
            "",
            "Plot: `experiments/htopk_pareto/dsae_default/dsae_default.png`. No training curve was "
            "recorded for these runs (the compare CLI has no EV probe), so plateau is not checked.",
            "",
            "**Decision rule, per k (ends: the smallest and largest d_sae):** "
            + "; ".join(f"k={k}: {v}" for k, v in sorted(per_k.items()))
            + f". **Answer to the question on the default model: {answer}.**",
            END,
        ]
    )

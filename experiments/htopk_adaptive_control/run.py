"""The adaptive-budget control of ``preregistration.md``: the three per-token rules applied to
the HierarchicalTopK SAE trained at K and to the TopK SAE trained at K of the same run.

    OMP_NUM_THREADS=1 nice python -m experiments.htopk_adaptive_control.run --seeds 0 1

Per seed: the ``compare --scale adaptive`` preset trains its SAEs (``train_on_model``, same
activations and token order for every peer), then every table row is evaluated on the same
evaluation rows (``adaptive_budgets.split_rows``): the fixed-k sweep of every SAE, the rules on
the hierarchical SAE (``adaptive_*``) and the rules on TopK at K (``topkK_*``), each rule
calibrated on the same calibration rows. ``--out`` (one JSON per invocation, e.g.
``control_seed0.json``) is rewritten after every seed (a finished seed is skipped on a rerun);
SAE files go to ``--work`` (not kept).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from datasets import Dataset
from sae_lens import SAE, HookedSAETransformer
from transformer_lens import HookedTransformer

from experiments.common import finish, provenance
from lime_lens.serialization import atomic_write_text
from saelens_hierarchical.study.adaptive_budgets import split_rows, sweep_adaptive
from saelens_hierarchical.study.baselines import train_on_model
from saelens_hierarchical.study.comparison import (
    ComparisonConfig,
    adaptive_config,
    middle_resid_hook,
    sweep_trained,
)
from saelens_hierarchical.study.peers import sae_name

HERE = Path(__file__).resolve().parent
OUT = HERE / "control_seed0.json"
CONTROL_METHODS = ("hierarchical_topk", "topk")
"""The SAEs the control trains: the rules' two hosts at K, and TopK at every k for B."""
CONTROL_PREFIX = "topkK"
"""Method prefix of the rules applied to the TopK SAE trained at K (``topkK_threshold`` ...)."""


def run_seed(
    model: HookedTransformer,
    train: Dataset,
    validation: Dataset,
    cfg: ComparisonConfig,
    work: Path,
) -> pd.DataFrame:
    """Train the preset's SAEs at ``cfg.baselines.seed`` and evaluate fixed k, the rules on the
    hierarchical SAE and the rules on TopK at K, all on the same evaluation rows."""
    hook = cfg.hook_name or middle_resid_hook(model)
    paths = train_on_model(cfg.baselines, model, train, hook, work / "saes", cfg.context_size)
    rows = split_rows(validation, cfg.sweep)
    targets = cfg.adaptive_targets or []
    big_k = cfg.baselines.K
    fixed = sweep_trained(paths, model, rows.evaluation, cfg.baselines.budgets, cfg.sweep)
    tables = [fixed]
    for method, prefix in (("hierarchical_topk", "adaptive"), ("topk", CONTROL_PREFIX)):
        sae = SAE.load_from_disk(paths[sae_name(method, big_k)])
        tables.append(sweep_adaptive(sae, model, validation, targets, cfg.sweep, prefix=prefix))
    table = pd.concat(tables, ignore_index=True)
    table["seed"] = cfg.baselines.seed
    return table


def default_inputs(context_size: int) -> tuple[HookedTransformer, Dataset, Dataset]:
    """The embedded default model and the Austen train / validation rows (``compare --target
    default``)."""
    from lime_lens.assets import load_default_model, load_token_dataset

    model = load_default_model(HookedSAETransformer)
    train = load_token_dataset("train", context_size=context_size)
    validation = load_token_dataset("validation", context_size=context_size)
    return model, train, validation


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--work", type=Path, default=None, help="SAE folder (default: a tmp dir)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    payload: dict[str, Any] = (
        json.loads(args.out.read_text()) if args.out.is_file() else {"invocations": [], "rows": []}
    )
    log = provenance(args.seeds)
    payload["invocations"].append(log)
    preset = adaptive_config()  # BatchTopK dropped (preregistration.md, amendment): not judged
    preset = replace(preset, baselines=replace(preset.baselines, methods=CONTROL_METHODS))
    payload["config"] = asdict(preset)
    model, train, validation = default_inputs(preset.context_size)
    work = args.work or Path(tempfile.mkdtemp(prefix="htopk_adaptive_control_"))
    for seed in args.seeds:
        if any(r["seed"] == seed for r in payload["rows"]):
            continue  # resumable: a finished seed stays as it is
        cfg = replace(preset, baselines=replace(preset.baselines, seed=seed))
        table = run_seed(model, train, validation, cfg, work / f"seed{seed}")
        payload["rows"] += json.loads(table.to_json(orient="records"))
        payload["invocations"][-1] = finish(log) | {
            "seeds_done": sorted({r["seed"] for r in payload["rows"]})
        }
        atomic_write_text(args.out, json.dumps(payload, indent=2))
        print(f"seed {seed}: {len(table)} rows -> {args.out}", flush=True)


if __name__ == "__main__":
    main()

"""Does the HierarchicalTopK-vs-TopK gap shrink or flip as d_sae grows past the true features?

The pre-registered design is in experiments/htopk_pareto/htopk_pareto.md ("d_sae scaling"). For every seed and
every d_sae ratio this trains one hierarchical_topk SAE at K and stock TopK at each budget in
lockstep on the same synthetic samples (lr decaying to zero, TopK at K paired with the
hierarchical SAE's initial weights), records the EV-at-K training curve, evaluates every SAE on
the same held-out samples and appends the rows to a JSON file after every run, so a partial run
still renders (experiments.htopk_pareto.render_dsae_scaling).

    OMP_NUM_THREADS=1 python -m experiments.htopk_pareto.run_dsae_scaling OUT.json [--samples N] [--ratios ...]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from sae_lens.synthetic import SyntheticModel
from sae_lens.training.multi_sae_trainer import MultiSAETrainer

from experiments.common import finish, provenance
from saelens_hierarchical.atomic_write import write_atomic
from saelens_hierarchical.study.baselines import BaselineConfig, train_on_provider
from saelens_hierarchical.study.synthetic import (
    HOOK,
    SyntheticComparisonConfig,
    sample_stream,
    small_config,
    sweep_synthetic,
)

METHODS = ("hierarchical_topk", "topk")


def scaled_config(
    ratio: float, seed: int, samples: int, n_features: int, d_in: int
) -> SyntheticComparisonConfig:
    """``small_config()`` with d_sae = ratio * n_features, lr decay, paired init, given length."""
    base = small_config()
    # Shrinking keeps the shape of the hierarchy: roots scale with the number of features.
    roots = base.model.hierarchy.total_root_nodes * n_features // base.model.num_features
    hierarchy = replace(base.model.hierarchy, total_root_nodes=roots)
    model = replace(base.model, num_features=n_features, hidden_dim=d_in, hierarchy=hierarchy)
    baselines = BaselineConfig(
        **{
            **asdict(base.baselines),
            "d_sae": int(ratio * n_features),
            "methods": METHODS,
            "training_tokens": samples,
            "lr_decay_fraction": 0.2,
            "paired_init": True,
            "seed": seed,
        }
    )
    return replace(base, model=model, baselines=baselines)


def curve_probe(
    model: SyntheticModel, every: int, curve: list[dict[str, float]], k: int
) -> Callable[[MultiSAETrainer], None]:
    """An ``on_batch`` probe: EV at K of the two K-SAEs on 4,096 fixed held-out samples."""
    with torch.random.fork_rng():
        torch.manual_seed(99)
        held_out = model.sample(4096)
    names = {"hierarchical_topk": f"hierarchical_topk_K{k}", "topk": f"topk_k{k}"}

    def probe(trainer: MultiSAETrainer) -> None:
        step = trainer.n_training_steps
        if step % every:
            return
        row: dict[str, float] = {"step": step, "samples": trainer.n_training_samples}
        with torch.no_grad():
            for method, name in names.items():
                factor = trainer.trainers[name].activation_scaler.scaling_factor or 1.0
                x = held_out * factor  # the SAE trains on scaled inputs; EV is scale-free
                recon = trainer.saes[name](x)
                fvu = (x - recon).pow(2).sum() / (x - x.mean(0)).pow(2).sum()
                row[method] = float(1 - fvu)
        curve.append(row)

    return probe


def run_one(cfg: SyntheticComparisonConfig, every: int) -> dict[str, object]:
    """Train, evaluate; the table rows, the curve and the wall time of one (ratio, seed)."""
    start = time.time()
    model = SyntheticModel(cfg.model)
    stream = sample_stream(model, cfg.baselines.train_batch_size_tokens, cfg.baselines.seed)
    curve: list[dict[str, float]] = []
    probe = curve_probe(model, every, curve, cfg.baselines.K)
    with tempfile.TemporaryDirectory() as tmp:
        paths = train_on_provider(
            cfg.baselines, stream, cfg.model.hidden_dim, HOOK, tmp, None, probe
        )
        train_s = time.time() - start
        table = sweep_synthetic(paths, model, cfg)
    return {
        "d_sae": cfg.baselines.d_sae,
        "n_features": cfg.model.num_features,
        "seed": cfg.baselines.seed,
        "rows": table.to_dict(orient="records"),
        "curve": curve,
        "train_s": train_s,
        "wall_s": time.time() - start,
        "loadavg": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--samples", type=int, default=600_000)
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.25, 0.5, 1, 2, 4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--n-features", type=int, default=1024)
    parser.add_argument("--d-in", type=int, default=128)
    parser.add_argument("--eval-samples", type=int, default=20_000)
    parser.add_argument("--curve-every", type=int, default=25)
    args = parser.parse_args()
    torch.set_num_threads(1)
    record: dict[str, Any] = {
        "command": vars(args) | {"out": str(args.out)},
        "provenance": provenance(args.seeds),
        "runs": [],
    }
    started = time.time()
    for seed in args.seeds:
        for ratio in args.ratios:
            cfg = scaled_config(ratio, seed, args.samples, args.n_features, args.d_in)
            cfg = replace(cfg, eval_samples=args.eval_samples)
            record["runs"].append(run_one(cfg, args.curve_every))
            record["config"] = json.loads(json.dumps(asdict(cfg), default=str))
            record["wall_s"] = time.time() - started
            record["provenance"] = finish(record["provenance"])
            write_atomic(args.out, json.dumps(record, indent=1, default=float))
            print(f"seed {seed} ratio {ratio}: {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()

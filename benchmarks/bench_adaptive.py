"""Adaptive per-token budgets vs the fixed-K encode: time, side by side in one process.

Setting: a stock SAELens ``TopKSAE`` (d_in=512, d_sae=8192, K=32, unit-norm decoder, float32,
CPU), batch 4096 tokens, each rule calibrated to mean L0 = K/4 on the same batch. Variants:

* ``encode``        ``sae.encode(x)`` at K: the fixed-K encode (the peer)
* ``threshold``     rule (a) encode: ``adaptive.threshold_encode`` (the encode plus one mask)
* ``forward``       ``sae.decode(sae.encode(x))`` at K
* ``threshold_fwd`` ``adaptive_encode`` with rule (a): encode, mask, decode
* ``error_fwd``     rule (b): encode, sort, the O(B K D) prefix-error walk, decode
* ``marginal_fwd``  rule (c): the same walk, a different stopping rule

All variants alternate call by call, so machine load drifts hit them alike; the median of
``--repeats`` calls after one warm-up is reported with its ratio to ``encode`` (the encodes) or
``forward`` (the full passes). The target for rule (a) is <= 1.05x the fixed-K encode.
JSON (with the load average) goes to ``--out``, default results/benchmarks/adaptive.json.

    OMP_NUM_THREADS=1 python benchmarks/bench_adaptive.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from sae_lens import TopKSAE, TopKSAEConfig

from saelens_hierarchical.adaptive import (
    ErrorRule,
    MarginalRule,
    ThresholdRule,
    adaptive_encode,
    calibrate,
    threshold_encode,
)
from saelens_hierarchical.atomic_write import write_atomic

D_IN, D_SAE, K, BATCH = 512, 8192, 32, 4096
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "results" / "benchmarks" / "adaptive.json"


def build() -> tuple[TopKSAE, torch.Tensor]:
    torch.manual_seed(0)
    sae = TopKSAE(TopKSAEConfig(d_in=D_IN, d_sae=D_SAE, k=K, rescale_acts_by_decoder_norm=True))
    with torch.no_grad():
        sae.W_enc.normal_(0, D_IN**-0.5)
        sae.W_dec.copy_(sae.W_enc.t()).div_(sae.W_dec.norm(dim=-1, keepdim=True))
        sae.b_enc.normal_(0, 0.1)
    return sae, torch.randn(BATCH, D_IN)


def variants(sae: TopKSAE, x: torch.Tensor) -> dict[str, Callable[[], object]]:
    threshold = calibrate(sae, x, K / 4, ThresholdRule)
    assert isinstance(threshold, ThresholdRule)  # calibrate returns a rule of the type asked
    error = calibrate(sae, x, K / 4, ErrorRule)
    marginal = calibrate(sae, x, K / 4, MarginalRule)
    return {
        "encode": lambda: sae.encode(x),
        "threshold": lambda: threshold_encode(sae, x, threshold),
        "forward": lambda: sae.decode(sae.encode(x)),
        "threshold_fwd": lambda: adaptive_encode(sae, x, threshold),
        "error_fwd": lambda: adaptive_encode(sae, x, error),
        "marginal_fwd": lambda: adaptive_encode(sae, x, marginal),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    sae, x = build()
    calls = variants(sae, x)
    times: dict[str, list[float]] = {name: [] for name in calls}
    with torch.no_grad():
        for repeat in range(args.repeats + 1):
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                if repeat:  # the first round is the warm-up
                    times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    peer = {name: "encode" if name in ("encode", "threshold") else "forward" for name in calls}
    rows = [
        {
            "variant": name,
            "median_ms": 1000 * median[name],
            "peer": peer[name],
            "ratio": median[name] / median[peer[name]],
        }
        for name in calls
    ]
    for row in rows:
        print(
            f"{row['variant']:>14}: {row['median_ms']:8.1f} ms  {row['ratio']:.3f}x {row['peer']}"
        )
    record = {
        "setting": {"d_in": D_IN, "d_sae": D_SAE, "K": K, "batch": BATCH, "mean_l0": K / 4},
        "repeats": args.repeats,
        "threads": torch.get_num_threads(),
        "loadavg": os.getloadavg(),
        "rows": rows,
    }
    write_atomic(args.out, json.dumps(record, indent=1))


if __name__ == "__main__":
    main()

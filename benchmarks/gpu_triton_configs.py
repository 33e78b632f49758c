"""Every Triton launch candidate timed on one CUDA GPU: which one autotuning picks, per K and dtype.

Setting: d_sae F = 65,536, d_in D = 2,304, batch B = 4,096, K in {32, 64, 128}, bf16 (and
``--dtypes``). For each candidate of ``saelens_hierarchical.loss.triton_configs.CANDIDATES``,
one forward and backward of ``hierarchical_loss_triton(..., config=candidate)`` is timed with
``triton.testing.do_bench`` (median ms over its repetitions): the measurement
``triton.autotune`` makes over its configs, here over the whole loss step rather than one
kernel. Each row records the times, the fastest ("picked") and the table's choice
(``triton_configs.choose``), and is written to ``--out`` as soon as it is measured.

    python benchmarks/gpu_triton_configs.py --out results/gpu/triton_configs.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from saelens_hierarchical.atomic_write import write_atomic
from saelens_hierarchical.loss.triton import hierarchical_loss_triton
from saelens_hierarchical.loss.triton_configs import CANDIDATES, TileConfig, choose

SHAPE = {"F": 65536, "D": 2304, "B": 4096}
DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32, "float16": torch.float16}
Timer = Callable[[Callable[[], Any]], float]


def make_inputs(k: int, dtype: torch.dtype, device: str, shape: dict[str, int]) -> tuple:
    """Leaf tensors as a training step hands them to the loss: sorted top-K coefficients."""
    gen = torch.Generator(device=device).manual_seed(0)
    F, D, B = shape["F"], shape["D"], shape["B"]
    sae_in = torch.randn(B, D, device=device, dtype=dtype, generator=gen)
    b_dec = torch.zeros(D, device=device, dtype=dtype, requires_grad=True)
    W_dec = (torch.randn(F, D, device=device, generator=gen) / D**0.5).to(dtype).requires_grad_()
    scores = torch.rand(B, F, device=device, generator=gen)
    acts, indices = scores.topk(k, dim=-1, sorted=True)
    return sae_in, b_dec, acts.to(dtype).requires_grad_(), indices, W_dec


def loss_step(inputs: tuple, cfg: TileConfig) -> Callable[[], None]:
    """One forward and backward of the Triton loss at ``cfg`` (what a training step runs)."""
    weights = [1.0 / inputs[2].shape[1]] * inputs[2].shape[1]

    leaves = [t for t in inputs if t.requires_grad]

    def run() -> None:  # autograd.grad: no .grad accumulation timed along
        sae_in, b_dec, acts, indices, W_dec = inputs
        out = hierarchical_loss_triton(
            sae_in, b_dec, acts, indices, W_dec, weights, config=cfg, deterministic=False
        )
        torch.autograd.grad(out.loss + out.sae_out.float().mean(), leaves)

    return run


def time_candidates(k: int, dtype: str, device: str, timer: Timer, shape: dict) -> dict:
    inputs = make_inputs(k, DTYPES[dtype], device, shape)
    times = {cfg.name: timer(loss_step(inputs, cfg)) for cfg in CANDIDATES}
    table = choose(shape["D"], k, DTYPES[dtype])
    picked = min(times, key=times.__getitem__)
    return {"K": k, "dtype": dtype, "ms": times, "picked": picked, "table": table.name,
            "table_over_picked": times[table.name] / times[picked]}  # fmt: skip


def cuda_timer(fn: Callable[[], Any]) -> float:
    from triton.testing import do_bench

    return float(do_bench(fn, warmup=5, rep=40))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file (rewritten per row)")
    parser.add_argument("--ks", type=int, nargs="+", default=[64, 32, 128])
    parser.add_argument("--dtypes", nargs="+", default=["bfloat16"], choices=DTYPES)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("gpu_triton_configs.py needs a CUDA device")
    settings = {**SHAPE, "device": torch.cuda.get_device_name(), "torch": torch.__version__,
                "candidates": [c.name for c in CANDIDATES],
                "start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
    rows: list[dict[str, Any]] = []
    for dtype in args.dtypes:
        for k in args.ks:
            rows.append(time_candidates(k, dtype, "cuda", cuda_timer, SHAPE))
            print(json.dumps(rows[-1]), flush=True)
            payload = {"benchmark": "gpu_triton_configs", "settings": settings, "rows": rows}
            write_atomic(args.out, json.dumps(payload, indent=2) + "\n")
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()

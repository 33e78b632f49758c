"""Train and ship the tiny LIMe models and their equal-size vanilla baseline (deterministic).

    OMP_NUM_THREADS=1 nice python scripts/train_tiny_lime.py [--jobs 2] [--only NAME ...]

Recipe: ``lime_lens.train.tiny_recipe`` (TINY_SHAPE, TINY_TRAIN, TINY_CONTEXT_SIZE), seed 0,
the embedded Austen corpus, BPE-4096, ``lime_lens.train.train``. The baseline's d_mlp is matched
(``matched_baseline_shape``) so its parameter count is within 1% of the LIMe models'. Writes
``lime_lens/assets/data/tiny_lime`` (lime-kv), ``.../tiny_vanilla`` and ``.../tiny_dynamic``
(lime-residual-dynamic) in the ``lime_lens.serialization`` format + ``metrics.json``, each
atomically. ``--only`` picks a subset (default: all three); the others are left untouched.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import torch

from lime_lens.assets.pretrained import TINY_DYNAMIC_DIR, TINY_LIME_DIR, TINY_VANILLA_DIR
from lime_lens.assets.tokenizer import load_tokenizer
from lime_lens.serialization import save_model
from lime_lens.train.tiny_recipe import matched_baseline_shape, train_tiny

SEED = 0
MODELS = ("lime", "vanilla", "dynamic")
"""``--only`` names, as in ``pretrained.tiny_model_metrics``."""


def train_and_save(
    arch: str, shape: dict | None, out: str, command: str
) -> tuple[str, float, int, float]:
    torch.set_num_threads(1)  # determinism and a fair share of the 2 shared cores
    model, metrics = train_tiny(arch, SEED, shape)
    save_model(model, out, {"metrics.json": {**metrics, "command": command}})
    return arch, metrics["val_loss"], metrics["n_params"], metrics["tokens_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="runs in parallel (one torch thread each)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=MODELS,
        default=list(MODELS),
        metavar="NAME",
        help=f"models to train, among {list(MODELS)} (default: all)",
    )
    args = parser.parse_args()
    command = shlex.join(["python", "scripts/train_tiny_lime.py", *sys.argv[1:]])
    baseline_shape = matched_baseline_shape(len(load_tokenizer()))
    jobs = {
        "lime": ("lime-kv", None, str(TINY_LIME_DIR)),
        "vanilla": ("vanilla", baseline_shape, str(TINY_VANILLA_DIR)),
        "dynamic": ("lime-residual-dynamic", None, str(TINY_DYNAMIC_DIR)),
    }
    jobs = [jobs[name] for name in MODELS if name in args.only]
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(train_and_save, *job, command) for job in jobs]
        for future in futures:
            arch, val_loss, n_params, tok_s = future.result()
            print(f"{arch:>21}: {n_params:,} params, val loss {val_loss:.4f}, {tok_s:,.0f} tok/s")


if __name__ == "__main__":
    main()
